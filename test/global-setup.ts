/**
 * Integration tests use the MariaDB and RabbitMQ named by MYSQL_URL / AMQP_URL, defaulting to
 * the local services every dev and CI machine runs. Each test file creates its own database
 * and random queue names (test/helpers), so files run in parallel and can be rerun.
 */
export default function setup(): void {
  process.env['MYSQL_URL'] ??= 'mysql://root@127.0.0.1:3306/test';
  process.env['AMQP_URL'] ??= 'amqp://guest:guest@127.0.0.1:5672';
}

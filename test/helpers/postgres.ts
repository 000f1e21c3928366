/**
 * The PostgreSQL the tests use: KILN_TEST_DATABASE_URL, or the one `npm run setup` makes (a `kiln`
 * role and a `kiln_test` database on the local cluster).
 */
export function testDatabaseUrl(): string {
  return process.env.KILN_TEST_DATABASE_URL || 'postgres://kiln:kiln@127.0.0.1:5432/kiln_test';
}

import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Custom runtimes (issue 10). A revision names its image by a content hash (image_key): builds
  // are found and finished by it, across projects, hence its index.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('runtimes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('head_revision_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('runtimes_project_id').on('runtimes').columns(['project', 'id']).execute();
    await db.schema
      .createTable('runtime_revisions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('runtime_id', 'text', (c) => c.notNull().references('runtimes.id'))
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('manifest_name', 'text', (c) => c.notNull())
      .addColumn('manifest_contents', 'text', (c) => c.notNull())
      .addColumn('additional_python_imports', 'text')
      .addColumn('image_key', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('failure_reason', 'text')
      .addColumn('build_log', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('runtime_revisions_runtime_id').on('runtime_revisions').columns(['runtime_id', 'id']).execute();
    await db.schema.createIndex('runtime_revisions_image_key').on('runtime_revisions').columns(['image_key', 'status']).execute();
  },
};

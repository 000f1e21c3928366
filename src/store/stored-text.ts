import { AppError } from '../errors.js';
import { OperationNodeTransformer, type KyselyPlugin, type PrimitiveValueListNode, type ValueNode } from 'kysely';

/**
 * Text with U+0000 in it, which PostgreSQL's text cannot hold (it refuses the whole statement) and
 * SQLite would keep: one rule for both stores, so a name or a message is refused alike wherever it
 * came from, as a 400 (an AppError) rather than an error of the database. JSON columns never meet it: JSON writes
 * the character as `\u0000`.
 */
export class UnstorableText extends AppError {
  constructor() {
    const message = 'text kiln stores (names, descriptions, messages, code, ids) cannot hold the NUL character U+0000';
    super('BAD_REQUEST', message, [{ field: '(body)', reason: 'nul_character', message }]);
  }
}

const check = (value: unknown) => {
  if (typeof value === 'string' && value.includes('\u0000')) throw new UnstorableText();
};

class RefuseNul extends OperationNodeTransformer {
  protected override transformValue(node: ValueNode): ValueNode {
    check(node.value);
    return super.transformValue(node);
  }

  protected override transformPrimitiveValueList(node: PrimitiveValueListNode): PrimitiveValueListNode {
    node.values.forEach(check);
    return super.transformPrimitiveValueList(node);
  }
}

/** Checks every value a query binds before it reaches either database. */
export const refuseNulText: KyselyPlugin = {
  transformQuery: (args) => new RefuseNul().transformNode(args.node),
  transformResult: async (args) => args.result,
};

/** Text kiln writes from what a box printed (a build's log): U+0000 becomes U+FFFD rather than failing the write. */
export const storable = (text: string): string => text.replaceAll('\u0000', '\uFFFD');

// TypeDoc plugin: each member of ERROR_CODES (lib/errors.ts) is documented by
// its own value, the description of that code, so the reference lists every
// error code with its meaning without a second copy of the text.
import { Comment, Converter, ReflectionKind } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const codes = context.project.getChildByName('ERROR_CODES');
    if (!codes || !codes.kindOf(ReflectionKind.Variable) || codes.type?.type !== 'reflection') {
      app.logger.error('typedoc-error-codes: ERROR_CODES is not an exported object constant any more');
      return;
    }
    for (const member of codes.type.declaration.children ?? []) {
      if (member.comment || member.type?.type !== 'literal' || typeof member.type.value !== 'string') continue;
      member.comment = new Comment([{ kind: 'text', text: member.type.value }]);
    }
  });
}

// `llm-explainer serve`: web mode — the workbench and its API on 127.0.0.1 with a per-launch token.
import { serveCommand } from '../web/serve';
import { intOption, parseCommand } from './args';

export async function serveCommandFromArgs(argv: string[]): Promise<number> {
  const { values } = parseCommand('serve', argv, {
    db: { type: 'string' },
    port: { type: 'string' },
    'no-open': { type: 'boolean' },
    'no-demo': { type: 'boolean' },
  });
  const web = await serveCommand({
    databasePath: values.db,
    port: intOption('port', values.port, 0, 65535),
    open: values['no-open'] ? false : undefined,
    demoRun: values['no-demo'] ? false : undefined,
  });
  const stop = () => void web.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A closed terminal: stop the same way, so running jobs end as cancelled instead of interrupted.
  process.once('SIGHUP', stop);
  await web.closed;
  return 0;
}

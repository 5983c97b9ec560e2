#!/usr/bin/env node
// The `nquic` command: `nquic demo …` and `nquic gateway …`.
import { runDemo } from './demo';
import { GATEWAY_USAGE, gatewayCommand, UsageError } from './gateway';

const USAGE = `usage: nquic demo [--mib N] [--datagrams N] [--streams N]
       nquic gateway --allow RULE [--allow RULE…] [--port N] [options]

  demo     run a QUIC server and client on loopback in this process:
           request/response streams, datagram round trips and a bulk
           transfer, with live progress and a summary
  gateway  a WebTransport-to-UDP gateway for web pages
           (nquic gateway --help for its options)
`;

function numberFlag(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`${name} needs a positive whole number\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

async function main(args: string[]): Promise<void> {
  if (args[0] === 'gateway') {
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(GATEWAY_USAGE);
      return;
    }
    try {
      await gatewayCommand(args.slice(1));
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      process.stderr.write(`nquic gateway: ${err.message}\n\n${GATEWAY_USAGE}`);
      process.exitCode = 2;
    }
    return;
  }
  if (args[0] !== 'demo') {
    process.stdout.write(USAGE);
    process.exitCode = args.length === 0 || args[0] === '--help' ? 0 : 2;
    return;
  }
  await runDemo({
    bulkBytes: numberFlag(args, '--mib', 64) * 2 ** 20,
    datagrams: numberFlag(args, '--datagrams', 1000),
    streams: numberFlag(args, '--streams', 100),
  });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`nquic: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});

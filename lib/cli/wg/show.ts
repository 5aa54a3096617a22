/**
 * `show` (wireguard-tools show.c): reads devices through the client and prints them with
 * the formatters of `lib/show/`.
 */
import { WireGuardClient } from '../../client/client.js';
import {
  formatInterfaces,
  parseShowArgs,
  showAll,
  showDevice,
  showDeviceError,
  showOptionsFromEnv,
  showUsageResult,
  unableToListInterfaces,
  type ShowAllEntry,
  type ShowResult,
} from '../../show/index.js';
import type { CliIo } from '../io.js';
import { errorText } from './perror.js';

export async function showMain(prog: string, argv: string[], io: CliIo): Promise<number> {
  const command = argv[0] ?? 'show';
  const request = parseShowArgs(argv.slice(1));
  const options = { ...showOptionsFromEnv(io.env, io.stdoutIsTTY), prog, command };
  const client = new WireGuardClient();
  let result: ShowResult;
  switch (request.kind) {
    case 'help':
    case 'usage':
      result = showUsageResult(request, options);
      break;
    case 'interfaces':
      try {
        const names = (await client.listDevices()).map((d) => d.name);
        result = { stdout: formatInterfaces(names), stderr: '', status: 0 };
      } catch (error) {
        result = { stdout: '', stderr: unableToListInterfaces(errorText(error)), status: 1 };
      }
      break;
    case 'all': {
      let names: string[];
      try {
        names = (await client.listDevices()).map((d) => d.name);
      } catch (error) {
        result = { stdout: '', stderr: unableToListInterfaces(errorText(error)), status: 1 };
        break;
      }
      const entries: ShowAllEntry[] = [];
      for (const name of names) {
        try {
          entries.push(await client.device(name));
        } catch (error) {
          entries.push({ name, error: errorText(error) });
        }
      }
      result = showAll(entries, request.field, new Date(), options);
      break;
    }
    case 'device':
      try {
        const device = await client.device(request.name);
        result = showDevice(device, request.field, new Date(), options);
      } catch (error) {
        result = showDeviceError(errorText(error));
      }
      break;
  }
  if (result.stdout) io.out(result.stdout);
  if (result.stderr) io.err(result.stderr);
  return result.status;
}

/**
 * The generated N-API loader (`lib/native.cjs`, written by `napi build`), wrapped so that a
 * feature this platform's addon lacks throws `ERR_WGKIT_UNSUPPORTED_PLATFORM` when used
 * (`lib/platform.ts`). Nothing else in the package imports the loader directly.
 */
import native from '../lib/native.cjs';
import { withPlatformCheck } from './platform.js';

const checked = withPlatformCheck(native);
export default checked;

/** Whether this platform's addon has the export `name` (without throwing when it has not). */
export function hasNativeExport(name: string): boolean {
  return Reflect.get(native, name) !== undefined;
}
export type * from '../lib/native.cjs';

/**
 * The generated N-API loader (`lib/native.cjs`, written by `napi build`), wrapped so that a
 * feature this platform's addon lacks throws `ERR_WGKIT_UNSUPPORTED_PLATFORM` when used
 * (`lib/platform.ts`). Nothing else in the package imports the loader directly.
 */
import native from '../lib/native.cjs';
import { withPlatformCheck } from './platform.js';

export default withPlatformCheck(native);
export type * from '../lib/native.cjs';

/*
 * ProcessPrng for wine 8, which has no bcryptprimitives.dll (wine 9 added it). Rust's standard
 * library imports ProcessPrng from that DLL (present on every Windows 10 and later), so without
 * it no Rust-built DLL loads under wine 8. Used only by scripts/platform-tests.sh, installed
 * into its own WINEPREFIX; never shipped.
 */
#include <windows.h>

/* advapi32's RtlGenRandom. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
    if (!SystemFunction036(data, chunk)) return FALSE;
    data += chunk;
    length -= chunk;
  }
  return TRUE;
}

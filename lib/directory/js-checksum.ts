import type { Checksummer } from '../backend/backend';
import { crc32c, crc32cRanges } from '../crc32c';

/** The pure-TypeScript CRC32C, for directories that have no backend (memory, simulated). */
export const jsChecksummer: Checksummer = { name: 'ts', crc32c, crc32cRanges };

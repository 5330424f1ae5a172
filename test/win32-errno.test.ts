// The errno the native core gives each Win32 error code (native/win32_errno.h), checked through
// the test build on any host: Wine cannot make NTFS report a full quota. A full disk, a full quota
// and a file past its largest size must read as no room (lib/backend/no-room.ts), so that zeros
// ahead of the log, preallocation and an idle sync mark are left out there instead of failing
// the writer, as on POSIX; an unknown code stays EIO, which fails it.
import assert from 'node:assert/strict';
import { isNoRoom } from '../lib/backend/no-room';
import { IoError } from '../lib/errors';
import { TEST_BUILD, testBuild } from './support/test-binding';

describe(`Win32 error codes as errno names ${TEST_BUILD}`, () => {
  let nameOf: (code: number) => string;
  before(function () {
    this.timeout(600_000); // the first run builds the test addon
    const { binding } = testBuild();
    nameOf = (code) => binding.__errnoNameOfWin32(code);
  });

  const noRoom = [
    [112, 'ERROR_DISK_FULL', 'ENOSPC'],
    [39, 'ERROR_HANDLE_DISK_FULL', 'ENOSPC'],
    [1295, 'ERROR_DISK_QUOTA_EXCEEDED', 'EDQUOT'],
    [223, 'ERROR_FILE_TOO_LARGE', 'EFBIG'],
  ] as const;
  for (const [code, name, errno] of noRoom) {
    it(`${name} (${code}) is ${errno}, which reads as no room`, () => {
      assert.equal(nameOf(code), errno);
      assert.equal(isNoRoom(new IoError(nameOf(code), 'pwrite', 'f')), true);
    });
  }

  it('a device error, and a code the core does not know, are EIO, which does not read as no room', () => {
    for (const code of [1117 /* ERROR_IO_DEVICE */, 0xdead]) {
      assert.equal(nameOf(code), 'EIO');
      assert.equal(isNoRoom(new IoError(nameOf(code), 'pwrite', 'f')), false);
    }
  });

  it('a code past 32 bits is a RangeError', () => {
    assert.throws(() => nameOf(2 ** 32), RangeError);
  });
});

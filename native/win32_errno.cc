#include "win32_errno.h"

namespace durability {

int ErrnoOfWin32(uint32_t error) {
  switch (error) {
#define DURABILITY_WIN32_CASE(name, code, err) \
  case code:                                   \
    return err;
    DURABILITY_WIN32_ERRORS(DURABILITY_WIN32_CASE)
#undef DURABILITY_WIN32_CASE
    default:
      return EIO;
  }
}

}  // namespace durability

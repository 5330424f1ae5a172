# Cross-compiles the addon for linux-s390x (IBM Z, big-endian) on an x64 Debian/Ubuntu host with
# `apt-get install g++-s390x-linux-gnu` (used by `npm run build:prebuilds -- --target linux-s390x`).
# The one big-endian prebuild: `npm run test:platforms` proves the little-endian on-disk format
# on it under qemu-s390x.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(CMAKE_C_COMPILER s390x-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER s390x-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

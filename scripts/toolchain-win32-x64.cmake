# Cross-compiles the addon for win32-x64 on a Debian/Ubuntu host with `apt-get install mingw-w64`
# (used by `npm run build:prebuilds`). The -posix compilers: GCC 12's win32 thread model has no
# std::mutex. CMakeLists.txt links the runtime statically (the .node needs no MinGW DLL) and makes
# the import library for node.exe's Node-API exports from node-api-headers' .def files.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_DLLTOOL x86_64-w64-mingw32-dlltool)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

#include <napi.h>
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, DURABILITY_VERSION));
  return exports;
}
NODE_API_MODULE(durability, Init)

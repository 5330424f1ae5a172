// Test-build hooks (test_hooks.h). Empty in a release build.
#include "test_hooks.h"

#if defined(DURABILITY_TEST_HOOKS)

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "args.h"
#include "errors.h"
#include "win32_errno.h"

namespace durability {
namespace {

struct FaultHook {
  std::mutex mutex;
  bool armed = false;
  CommitStep step = CommitStep::kWrite;
  int err = 0;
  int64_t after = 0;  // matching steps that still succeed before the first failure
  bool persistent = false;
  bool shortBefore = false;  // kRead: the `after` reads before the failure are cut short
};

FaultHook& Hook() {
  static FaultHook hook;
  return hook;
}

std::atomic<uint64_t> completions[3];

bool StepNamed(const std::string& name, CommitStep* out) {
  if (name == "write") *out = CommitStep::kWrite;
  else if (name == "fallocate") *out = CommitStep::kAllocate;
  else if (name == "zeros") *out = CommitStep::kZeros;
  else if (name == "ftruncate") *out = CommitStep::kTruncate;
  else if (name == "fdatasync") *out = CommitStep::kFdatasync;
  else if (name == "fsyncDir") *out = CommitStep::kFsyncDir;
  else if (name == "pread") *out = CommitStep::kRead;
  else return false;
  return true;
}

}  // namespace

int InjectedError(CommitStep step) {
  FaultHook& hook = Hook();
  std::lock_guard<std::mutex> lock(hook.mutex);
  if (!hook.armed || hook.step != step) return 0;
  if (hook.after > 0) {
    --hook.after;
    return hook.shortBefore ? kShortRead : 0;
  }
  if (!hook.persistent) hook.armed = false;
  return hook.err;
}

void CountCompletion(Completion how) { completions[static_cast<int>(how)].fetch_add(1); }

Napi::Value SetFaultInjectionJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Value spec = info[0];
  FaultHook& hook = Hook();
  if (spec.IsNull() || spec.IsUndefined()) {
    std::lock_guard<std::mutex> lock(hook.mutex);
    hook.armed = false;
    return env.Undefined();
  }
  if (!spec.IsObject()) {
    ThrowTypeError(env, "The \"spec\" argument must be an object or null");
    return Napi::Value();
  }
  Napi::Object o = spec.As<Napi::Object>();
  Napi::Value op = o.Get("op");
  if (env.IsExceptionPending()) return Napi::Value();
  CommitStep step;
  if (!op.IsString() || !StepNamed(op.As<Napi::String>().Utf8Value(), &step)) {
    ThrowTypeError(env, "spec.op must be 'write', 'fallocate', 'zeros', 'ftruncate', 'fdatasync', 'fsyncDir' or 'pread'");
    return Napi::Value();
  }
  Napi::Value shortValue = o.Get("short");
  if (env.IsExceptionPending()) return Napi::Value();
  const bool shortRead = shortValue.ToBoolean().Value();
  if (shortRead && step != CommitStep::kRead) {
    ThrowTypeError(env, "spec.short is for op 'pread' only");
    return Napi::Value();
  }
  // short alone: the matching read is cut short; with errno: the reads before it are, then it fails.
  double err = kShortRead;
  double after = 0;
  Napi::Value errValue = o.Get("errno");
  if (env.IsExceptionPending()) return Napi::Value();
  const bool hasErrno = !shortRead || !errValue.IsUndefined();
  if (hasErrno && !IntegerArg(env, errValue, "spec.errno", 1, 4095, &err)) return Napi::Value();
  Napi::Value afterValue = o.Get("after");
  if (env.IsExceptionPending()) return Napi::Value();
  if (!afterValue.IsUndefined() && !IntegerArg(env, afterValue, "spec.after", 0, 9007199254740991.0, &after)) {
    return Napi::Value();
  }
  Napi::Value persistent = o.Get("persistent");
  if (env.IsExceptionPending()) return Napi::Value();
  std::lock_guard<std::mutex> lock(hook.mutex);
  hook.armed = true;
  hook.step = step;
  hook.err = static_cast<int>(err);
  hook.after = static_cast<int64_t>(after);
  hook.persistent = persistent.ToBoolean().Value();
  hook.shortBefore = shortRead && hasErrno;
  return env.Undefined();
}

Napi::Value CompletionStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("settled", Napi::Number::New(env, static_cast<double>(completions[0].load())));
  stats.Set("dropped", Napi::Number::New(env, static_cast<double>(completions[1].load())));
  stats.Set("settleFailed", Napi::Number::New(env, static_cast<double>(completions[2].load())));
  return stats;
}

Napi::Value ErrnoNameOfWin32Js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double code;
  if (!IntegerArg(env, info[0], "code", 0, 4294967295.0, &code)) return Napi::Value();
  return Napi::String::New(env, ErrnoName(ErrnoOfWin32(static_cast<uint32_t>(code))));
}

}  // namespace durability

#endif  // DURABILITY_TEST_HOOKS

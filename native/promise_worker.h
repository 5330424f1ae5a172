// The promise plumbing of every thread-pool operation (async_ops.cc): a worker that
// owns a deferred promise, runs its syscall in Execute (filling result_), and settles the
// promise from result_ on the event loop: resolved with Resolution(), or rejected with a
// SystemError naming result_.syscall and path_.
#pragma once

#include <string>

#include <napi.h>

#include "env_files.h"
#include "errors.h"
#include "platform.h"
#include "test_hooks.h"

namespace durability {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name) {
    if (napi_create_promise(env, &deferred_, &promise_) != napi_ok) promise_ = nullptr;
  }

  /** Queues the worker and returns its promise; on failure deletes it and leaves the exception pending. */
  static Napi::Value Start(PromiseWorker* worker) {
    napi_value promise = worker->promise_;
    if (promise == nullptr) {
      delete worker;
      return Napi::Value();
    }
    worker->Queue();
    return Napi::Value(worker->Env(), promise);
  }

 protected:
  // A completion can run while its environment is torn down (a terminated worker: Node runs the
  // completions of work still on the thread pool before the env's cleanup hooks). It then drops
  // its result without creating a JS value (EnvStopping). Settling uses raw Node-API calls and
  // gives up quietly if one fails anyway: node-addon-api's wrappers would abort there.
  void OnOK() override {
    napi_env env = Env();
    if (EnvStopping(env)) {
      CountCompletion(Completion::kDropped);
      return;
    }
    napi_status status = napi_generic_failure;
    if (result_.ok()) {
      napi_value value = Resolution(env);
      if (value != nullptr) status = napi_resolve_deferred(env, deferred_, value);
    } else {
      napi_value error = MakeSysError(env, result_.err, result_.syscall, path_.empty() ? nullptr : path_.c_str());
      if (error != nullptr) status = napi_reject_deferred(env, deferred_, error);
    }
    CountCompletion(status == napi_ok ? Completion::kSettled : Completion::kSettleFailed);
  }

  virtual napi_value Resolution(napi_env env) {
    napi_value undefined = nullptr;
    napi_get_undefined(env, &undefined);
    return undefined;
  }

  IoResult result_;
  std::string path_;  // named in the rejection, when the operation has one

 private:
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
};

}  // namespace durability

// Errors from syscalls, as JS sees them.
#pragma once
#include <napi.h>
#include <string.h>
#include <uv.h>

#include <string>

namespace vxtap {

// Throws an Error whose .code is the errno name (EPERM, EADDRINUSE, ...) and
// whose message says what was being done, so JS can turn it into advice.
inline Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace vxtap

// Process credentials for dropping privileges: capget/capset, the ambient
// set, PR_SET_KEEPCAPS and PR_SET_NO_NEW_PRIVS. Each function is one syscall
// on the calling thread (the JS main thread: capabilities are per thread).
// Which capabilities to keep, and when, is decided in src/control/privilege.ts.
//
// Capability sets cross as numbers: bit n is capability n (CAP_NET_ADMIN is
// 12). The kernel's 64 bits fit, since the highest capability is far below 53.
#include "caps.h"

#include "args.h"
#include "errors.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace vxtap {
namespace {

double Join(uint32_t lo, uint32_t hi) { return static_cast<double>(lo) + static_cast<double>(hi) * 4294967296.0; }

void Split(double v, uint32_t* lo, uint32_t* hi) {
  const uint64_t bits = static_cast<uint64_t>(v);
  *lo = static_cast<uint32_t>(bits);
  *hi = static_cast<uint32_t>(bits >> 32);
}

// capGet() -> { effective, permitted, inheritable } of the calling thread.
Napi::Value CapGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return ThrowErrno(env, "capget", errno);
  Napi::Object out = Napi::Object::New(env);
  out.Set("effective", Join(data[0].effective, data[1].effective));
  out.Set("permitted", Join(data[0].permitted, data[1].permitted));
  out.Set("inheritable", Join(data[0].inheritable, data[1].inheritable));
  return out;
}

// capSet(effective, permitted, inheritable): replaces the calling thread's sets.
Napi::Value CapSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "capSet");
  constexpr double kMaxSet = 9007199254740991.0;  // 2^53 - 1: every set a number holds exactly
  double effective, permitted, inheritable;
  if (!a.Integer(0, "effective", &effective, 0, kMaxSet) || !a.Integer(1, "permitted", &permitted, 0, kMaxSet) ||
      !a.Integer(2, "inheritable", &inheritable, 0, kMaxSet)) {
    return env.Undefined();
  }
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  Split(effective, &data[0].effective, &data[1].effective);
  Split(permitted, &data[0].permitted, &data[1].permitted);
  Split(inheritable, &data[0].inheritable, &data[1].inheritable);
  if (syscall(SYS_capset, &hdr, data) != 0) return ThrowErrno(env, "capset", errno);
  return env.Undefined();
}

// ambientRaise(cap): the capability (already permitted and inheritable) goes
// into the ambient set, so programs this thread execs (ip) keep it.
Napi::Value AmbientRaise(const Napi::CallbackInfo& info) {
  uint32_t cap;
  if (!Args(info, "ambientRaise").Uint(0, "cap", &cap, 63)) return info.Env().Undefined();
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, static_cast<unsigned long>(cap), 0, 0) != 0) {
    return ThrowErrno(info.Env(), "prctl(PR_CAP_AMBIENT_RAISE, " + std::to_string(cap) + ")", errno);
  }
  return info.Env().Undefined();
}

// ambientClear(): empties the ambient set.
Napi::Value AmbientClear(const Napi::CallbackInfo& info) {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return ThrowErrno(info.Env(), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno);
  return info.Env().Undefined();
}

// setKeepCaps(on): with it, a switch of every uid from 0 to others keeps the
// permitted set (the effective one is still cleared) instead of emptying both.
Napi::Value SetKeepCaps(const Napi::CallbackInfo& info) {
  bool on;
  if (!Args(info, "setKeepCaps").Bool(0, "on", &on)) return info.Env().Undefined();
  if (prctl(PR_SET_KEEPCAPS, on ? 1UL : 0UL, 0, 0, 0) != 0) return ThrowErrno(info.Env(), "prctl(PR_SET_KEEPCAPS)", errno);
  return info.Env().Undefined();
}

// setNoNewPrivs(): no exec (setuid programs, file capabilities) can add privileges again.
Napi::Value SetNoNewPrivs(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ThrowErrno(info.Env(), "prctl(PR_SET_NO_NEW_PRIVS)", errno);
  return info.Env().Undefined();
}

}  // namespace

void InitCaps(Napi::Env env, Napi::Object exports) {
  exports.Set("capGet", Napi::Function::New<CapGet>(env, "capGet"));
  exports.Set("capSet", Napi::Function::New<CapSet>(env, "capSet"));
  exports.Set("ambientRaise", Napi::Function::New<AmbientRaise>(env, "ambientRaise"));
  exports.Set("ambientClear", Napi::Function::New<AmbientClear>(env, "ambientClear"));
  exports.Set("setKeepCaps", Napi::Function::New<SetKeepCaps>(env, "setKeepCaps"));
  exports.Set("setNoNewPrivs", Napi::Function::New<SetNoNewPrivs>(env, "setNoNewPrivs"));
}

}  // namespace vxtap

// Process credentials for dropping privileges (see caps.cc).
#pragma once
#include <napi.h>

namespace vxtap {
// Adds capGet, capSet, ambientRaise, ambientClear, setKeepCaps and setNoNewPrivs to exports.
void InitCaps(Napi::Env env, Napi::Object exports);
}  // namespace vxtap

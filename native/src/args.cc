#include "args.h"

#include <math.h>

#include <string>

namespace vxtap {

bool Args::Fail(const char* what) const {
  Napi::TypeError::New(info_.Env(), std::string(fn_) + ": " + what).ThrowAsJavaScriptException();
  return false;
}

bool Args::Fail(size_t i, const char* name, const char* what) const {
  Napi::TypeError::New(info_.Env(), std::string(fn_) + ": argument " + std::to_string(i) + " (" + name + ") " + what)
      .ThrowAsJavaScriptException();
  return false;
}

namespace {

const char* TypedName(napi_typedarray_type type) {
  switch (type) {
    case napi_uint8_array:
      return "a Uint8Array";
    case napi_uint16_array:
      return "a Uint16Array";
    case napi_uint32_array:
      return "a Uint32Array";
    default:
      return "an Int32Array";
  }
}

}  // namespace

bool Args::TypedOf(size_t i, const char* name, napi_typedarray_type type, void** data, size_t* count,
                   bool nullable) const {
  *data = nullptr;
  *count = 0;
  if (nullable && (Absent(i) || info_[i].IsNull())) return true;
  napi_typedarray_type actual;
  size_t length = 0;
  void* p = nullptr;
  // napi_get_typedarray_info fails (napi_invalid_arg) on anything but a typed array.
  if (i >= info_.Length() || napi_get_typedarray_info(info_.Env(), info_[i], &actual, &length, &p, nullptr, nullptr) != napi_ok ||
      actual != type) {
    const std::string want = std::string("must be ") + TypedName(type) + (nullable ? " or null" : "");
    return Fail(i, name, want.c_str());
  }
  *data = p;
  *count = p == nullptr ? 0 : length;  // a detached buffer holds nothing
  return true;
}

bool Args::Bytes(size_t i, const char* name, uint8_t** data, size_t* len, bool nullable) const {
  return Typed<uint8_t>(i, name, data, len, nullable);
}

bool Args::Integer(size_t i, const char* name, double* v, double min, double max) const {
  // napi_get_value_double fails (napi_number_expected) on anything but a number.
  if (i >= info_.Length() || napi_get_value_double(info_.Env(), info_[i], v) != napi_ok) return Fail(i, name, "must be a number");
  if (!(*v >= min && *v <= max) || floor(*v) != *v) {
    const std::string what = "must be an integer in [" + std::to_string(static_cast<int64_t>(min)) + ", " +
                             std::to_string(static_cast<int64_t>(max)) + "]";
    return Fail(i, name, what.c_str());
  }
  return true;
}

bool Args::Uint(size_t i, const char* name, uint32_t* out, uint32_t max) const {
  double v;
  if (!Integer(i, name, &v, 0, max)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool Args::UintOr(size_t i, const char* name, uint32_t* out, uint32_t def, uint32_t max) const {
  if (Absent(i)) {
    *out = def;
    return true;
  }
  return Uint(i, name, out, max);
}

bool Args::Int(size_t i, const char* name, int32_t* out, int32_t min, int32_t max) const {
  double v;
  if (!Integer(i, name, &v, min, max)) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

bool Args::IntOr(size_t i, const char* name, int32_t* out, int32_t def, int32_t min, int32_t max) const {
  if (Absent(i)) {
    *out = def;
    return true;
  }
  return Int(i, name, out, min, max);
}

bool Args::Bool(size_t i, const char* name, bool* out) const {
  if (i >= info_.Length() || napi_get_value_bool(info_.Env(), info_[i], out) != napi_ok) return Fail(i, name, "must be a boolean");
  return true;
}

bool Args::BoolOr(size_t i, const char* name, bool* out, bool def) const {
  if (Absent(i)) {
    *out = def;
    return true;
  }
  return Bool(i, name, out);
}

bool Args::String(size_t i, const char* name, std::string* out, size_t max_len) const {
  if (i >= info_.Length() || !info_[i].IsString()) return Fail(i, name, "must be a string");
  *out = info_[i].As<Napi::String>().Utf8Value();
  if (out->size() > max_len || out->find('\0') != std::string::npos) {
    const std::string what = "must be at most " + std::to_string(max_len) + " bytes, without NUL";
    return Fail(i, name, what.c_str());
  }
  return true;
}

bool Args::Function(size_t i, const char* name, Napi::Function* out) const {
  if (i >= info_.Length() || !info_[i].IsFunction()) return Fail(i, name, "must be a function");
  *out = info_[i].As<Napi::Function>();
  return true;
}

}  // namespace vxtap

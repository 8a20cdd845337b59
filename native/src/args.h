// Argument checks for the addon's entry points. Every buffer, typed array,
// offset, length and count JS hands in is checked here, before any byte is
// touched: a wrong type, a typed array of the wrong element type, a negative
// or fractional number, or a value beyond what the buffers hold throws a
// TypeError naming the function and the argument. These are programmer
// errors (the data path passes what it allocated), never a packet's fault,
// so they throw instead of counting.
//
// Each Get* returns false with the TypeError pending; the caller returns at
// once. With NAPI_DISABLE_CPP_EXCEPTIONS, Napi's As<T>() does not check the
// type, so nothing else in the addon may convert an argument.
#pragma once

#include <napi.h>

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <type_traits>

namespace vxtap {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}

  // Throws TypeError "<fn>: <what>" and returns false.
  bool Fail(const char* what) const;
  bool Fail(size_t i, const char* name, const char* what) const;

  // A Uint8Array (a Buffer is one); null (or absent) when nullable.
  bool Bytes(size_t i, const char* name, uint8_t** data, size_t* len, bool nullable = false) const;
  // A typed array of exactly T's element type; null (or absent) when nullable.
  template <typename T>
  bool Typed(size_t i, const char* name, T** data, size_t* count, bool nullable = false) const;
  // An integer in [min, max]; when absent (undefined), def if optional.
  bool Integer(size_t i, const char* name, double* v, double min, double max) const;
  bool Uint(size_t i, const char* name, uint32_t* out, uint32_t max = UINT32_MAX) const;
  bool UintOr(size_t i, const char* name, uint32_t* out, uint32_t def, uint32_t max = UINT32_MAX) const;
  bool Int(size_t i, const char* name, int32_t* out, int32_t min, int32_t max) const;
  bool IntOr(size_t i, const char* name, int32_t* out, int32_t def, int32_t min, int32_t max) const;
  bool Bool(size_t i, const char* name, bool* out) const;
  bool BoolOr(size_t i, const char* name, bool* out, bool def) const;
  bool String(size_t i, const char* name, std::string* out, size_t max_len) const;
  bool Function(size_t i, const char* name, Napi::Function* out) const;

 private:
  bool Absent(size_t i) const { return i >= info_.Length() || info_[i].IsUndefined(); }
  bool TypedOf(size_t i, const char* name, napi_typedarray_type type, void** data, size_t* count, bool nullable) const;

  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// The element type of T's typed array (the addon takes these five).
template <typename T>
constexpr napi_typedarray_type TypedType() {
  if constexpr (std::is_same_v<T, uint8_t>) return napi_uint8_array;
  else if constexpr (std::is_same_v<T, uint16_t>) return napi_uint16_array;
  else if constexpr (std::is_same_v<T, uint32_t>) return napi_uint32_array;
  else if constexpr (std::is_same_v<T, double>) return napi_float64_array;
  else {
    static_assert(std::is_same_v<T, int32_t>, "a typed array of uint8, uint16, uint32, int32 or float64");
    return napi_int32_array;
  }
}

template <typename T>
bool Args::Typed(size_t i, const char* name, T** data, size_t* count, bool nullable) const {
  void* p = nullptr;
  if (!TypedOf(i, name, TypedType<T>(), &p, count, nullable)) return false;
  *data = static_cast<T*>(p);
  return true;
}

}  // namespace vxtap

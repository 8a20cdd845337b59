// vxtap native addon: descriptor set-up and batched packet I/O.
// Policy (what to send where, what to drop) lives in TypeScript; this file
// only opens descriptors and reports errors with their errno names.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "endpoint.h"

namespace vxtap {
namespace {

// Throws an Error whose .code is the errno name (EPERM, EADDRINUSE, ...) and
// whose message says what was being done, so JS can turn it into advice.
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// Buffer sizes for bursts: the FORCE variants pass rmem_max/wmem_max as root;
// fall back to the capped options for unprivileged callers.
void SizeBuffers(int fd, int rcvbuf, int sndbuf) {
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
}

// openTun(name, tap, vnetHdr, multiQueue) -> { fd, name }
Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const bool tap = info[1].As<Napi::Boolean>().Value();
  const bool vnet = info[2].As<Napi::Boolean>().Value();
  const bool mq = info[3].As<Napi::Boolean>().Value();
  if (name.size() >= IFNAMSIZ) return ThrowErrno(env, "device name '" + name + "' is longer than 15 bytes", ENAMETOOLONG);
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  ifreq ifr{};
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = static_cast<short>((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) |
                                     (mq ? IFF_MULTI_QUEUE : 0));
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, std::string("TUNSETIFF ") + (tap ? "tap " : "tun ") + name, e);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  return out;
}

// openUdp(ipv4, port, rcvbuf, sndbuf) -> fd, bound and non-blocking.
Napi::Value OpenUdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ip = info[0].As<Napi::String>().Utf8Value();
  const uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) return ThrowErrno(env, "bad IPv4 address '" + ip + "'", EINVAL);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(udp)", errno);
  SizeBuffers(fd, info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().Int32Value());
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, "bind udp " + ip + ":" + std::to_string(port), e);
  }
  return Napi::Number::New(env, fd);
}

// openRaw(sndbuf) -> fd: IPPROTO_RAW implies IP_HDRINCL, so the caller writes
// the outer IPv4 and UDP headers, which is how the UDP source port can follow
// the inner flow. The kernel fills the IPv4 checksum and, if zero, the ID.
Napi::Value OpenRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return ThrowErrno(env, "socket(raw)", errno);
  SizeBuffers(fd, 0, info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(env, fd);
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openTun", Napi::Function::New<OpenTun>(env, "openTun"));
  exports.Set("openUdp", Napi::Function::New<OpenUdp>(env, "openUdp"));
  exports.Set("openRaw", Napi::Function::New<OpenRaw>(env, "openRaw"));
  exports.Set("Endpoint", Endpoint::Define(env));
  exports.Set("KIND_DEVICE", static_cast<int>(Kind::kDevice));
  exports.Set("KIND_DATAGRAM", static_cast<int>(Kind::kDatagram));
  exports.Set("KIND_RAW", static_cast<int>(Kind::kRaw));
  return exports;
}

}  // namespace vxtap

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return vxtap::Init(env, exports); }

NODE_API_MODULE(vxtap, InitAddon)

#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

namespace vxtap {

namespace {

template <typename T>
T* TypedData(const Napi::Value& v, size_t* count) {
  auto arr = v.As<Napi::TypedArray>();
  *count = arr.ElementLength();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
}

bool IsAgain(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

}  // namespace

Napi::Function Endpoint::Define(Napi::Env env) {
  return DefineClass(env, "Endpoint",
                     {
                         InstanceMethod<&Endpoint::StartRx>("startRx"),
                         InstanceMethod<&Endpoint::StopRx>("stopRx"),
                         InstanceMethod<&Endpoint::WriteFrames>("writeFrames"),
                         InstanceMethod<&Endpoint::SendDatagrams>("sendDatagrams"),
                         InstanceMethod<&Endpoint::Close>("close"),
                         InstanceAccessor<&Endpoint::GetFd>("fd"),
                     });
}

// new Endpoint(fd, kind): takes ownership of fd.
Endpoint::Endpoint(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Endpoint>(info) {
  fd_ = info[0].As<Napi::Number>().Int32Value();
  kind_ = static_cast<Kind>(info[1].As<Napi::Number>().Int32Value());
}

Endpoint::~Endpoint() {
  if (fd_ >= 0) ::close(fd_);
  delete rx_ctx_;
}

Napi::Value Endpoint::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_);
}

Napi::Value Endpoint::StartRx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (polling_ || fd_ < 0) {
    Napi::Error::New(env, "startRx: endpoint is already receiving or closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto slab = info[0].As<Napi::Buffer<uint8_t>>();
  slot_size_ = info[1].As<Napi::Number>().Uint32Value();
  headroom_ = info[2].As<Napi::Number>().Uint32Value();
  budget_ = info[3].As<Napi::Number>().Uint32Value();
  size_t nlens = 0, naddrs = 0, nports = 0;
  lens_ = TypedData<uint32_t>(info[4], &nlens);
  addrs_ = info[5].IsNull() ? nullptr : TypedData<uint32_t>(info[5], &naddrs);
  ports_ = info[6].IsNull() ? nullptr : TypedData<uint16_t>(info[6], &nports);
  slab_ = slab.Data();
  slab_len_ = slab.Length();
  if (budget_ == 0 || headroom_ >= slot_size_ || static_cast<size_t>(slot_size_) * budget_ > slab_len_ ||
      nlens < budget_ || (kind_ == Kind::kDatagram && (naddrs < budget_ || nports < budget_))) {
    Napi::RangeError::New(env, "startRx: slab or result arrays are smaller than the batch").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // Keep everything native code points into alive while the poll runs.
  rx_refs_ = Napi::Persistent(Napi::Object::New(env));
  rx_refs_.Set("slab", info[0]);
  rx_refs_.Set("lens", info[4]);
  rx_refs_.Set("addrs", info[5]);
  rx_refs_.Set("ports", info[6]);
  rx_cb_ = Napi::Persistent(info[7].As<Napi::Function>());
  delete rx_ctx_;
  rx_ctx_ = new Napi::AsyncContext(env, "vxtap:rx");

  if (kind_ == Kind::kDatagram) {
    rx_msgs_.assign(budget_, mmsghdr{});
    rx_iov_.assign(budget_, iovec{});
    rx_names_.assign(budget_, sockaddr_in{});
    for (uint32_t i = 0; i < budget_; i++) {
      rx_iov_[i].iov_base = slab_ + static_cast<size_t>(i) * slot_size_ + headroom_;
      rx_iov_[i].iov_len = slot_size_ - headroom_;
      rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
      rx_msgs_[i].msg_hdr.msg_iovlen = 1;
      rx_msgs_[i].msg_hdr.msg_name = &rx_names_[i];
    }
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, fd_);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &Endpoint::OnPoll);
  polling_ = true;
  Ref();  // the wrapper must outlive the poll handle that points at it
  return env.Undefined();
}

// Drains up to one batch. Returns the number of packets read, or -errno if the
// first read failed with something other than EAGAIN, or 0 if nothing was ready.
int Endpoint::Drain() {
  const uint32_t cap = slot_size_ - headroom_;
  if (kind_ == Kind::kDatagram) {
    for (uint32_t i = 0; i < budget_; i++) {
      rx_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      rx_msgs_[i].msg_hdr.msg_flags = 0;
    }
    int n;
    do {
      n = recvmmsg(fd_, rx_msgs_.data(), budget_, MSG_DONTWAIT, nullptr);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return IsAgain(errno) ? 0 : -errno;
    for (int i = 0; i < n; i++) {
      const mmsghdr& m = rx_msgs_[i];
      // A datagram larger than the slot is reported as cap + 1 so that JS can
      // count it as oversized instead of parsing a cut-off packet.
      lens_[i] = (m.msg_hdr.msg_flags & MSG_TRUNC) ? cap + 1 : m.msg_len;
      addrs_[i] = ntohl(rx_names_[i].sin_addr.s_addr);
      ports_[i] = ntohs(rx_names_[i].sin_port);
    }
    return n;
  }
  uint32_t i = 0;
  while (i < budget_) {
    ssize_t r = ::read(fd_, slab_ + static_cast<size_t>(i) * slot_size_ + headroom_, cap);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (IsAgain(errno) || i > 0) break;
      return -errno;
    }
    lens_[i++] = static_cast<uint32_t>(r);
  }
  return static_cast<int>(i);
}

void Endpoint::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Endpoint*>(handle->data);
  if (!self->polling_) return;
  int n = status < 0 ? status : self->Drain();
  if (n == 0) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  self->rx_cb_.MakeCallback(self->Value(), {Napi::Number::New(env, n)}, *self->rx_ctx_);
  if (env.IsExceptionPending()) {
    // A throwing batch handler is a programmer error: report it the way Node
    // reports any uncaught exception instead of leaving it pending here.
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }
}

void Endpoint::OnClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

void Endpoint::ReleaseRx() {
  if (!polling_) return;
  polling_ = false;
  uv_poll_stop(poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), &Endpoint::OnClosed);
  poll_ = nullptr;
  rx_cb_.Reset();
  rx_refs_.Reset();
  Unref();
}

Napi::Value Endpoint::StopRx(const Napi::CallbackInfo& info) {
  ReleaseRx();
  return info.Env().Undefined();
}

Napi::Value Endpoint::Close(const Napi::CallbackInfo& info) {
  ReleaseRx();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}

// writeFrames(buf, offs, lens, n): one write() per frame, all in this call.
// Stops at the first EAGAIN (the device queue is full); the caller counts the
// rest as dropped. Other per-frame errors skip that frame.
Napi::Value Endpoint::WriteFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  size_t noffs = 0, nlens = 0;
  const uint32_t* offs = TypedData<uint32_t>(info[1], &noffs);
  const uint32_t* lens = TypedData<uint32_t>(info[2], &nlens);
  uint32_t n = info[3].As<Napi::Number>().Uint32Value();
  if (n > noffs || n > nlens) {
    Napi::RangeError::New(env, "writeFrames: n exceeds the offset or length arrays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t written = 0;
  for (uint32_t i = 0; i < n && fd_ >= 0; i++) {
    if (static_cast<size_t>(offs[i]) + lens[i] > buf.Length()) {
      Napi::RangeError::New(env, "writeFrames: frame lies outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    ssize_t r;
    do {
      r = ::write(fd_, buf.Data() + offs[i], lens[i]);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
      written++;
    } else if (IsAgain(errno)) {
      break;
    }
  }
  return Napi::Number::New(env, written);
}

// sendDatagrams(hdr, hdrStride, hdrLen, payload, offs, lens, addrs, ports, n, status)
// Message i is hdr[i*hdrStride, +hdrLen) followed by payload[offs[i], +lens[i]),
// sent to addrs[i]:ports[i] (host order). hdr may be null (payload only).
// One sendmmsg() per call unless a message fails; status[i] gets 0 or errno.
Napi::Value Endpoint::SendDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool has_hdr = !info[0].IsNull();
  uint8_t* hdr = nullptr;
  size_t hdr_total = 0;
  if (has_hdr) {
    auto h = info[0].As<Napi::Buffer<uint8_t>>();
    hdr = h.Data();
    hdr_total = h.Length();
  }
  const uint32_t stride = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t hdr_len = info[2].As<Napi::Number>().Uint32Value();
  auto payload = info[3].As<Napi::Buffer<uint8_t>>();
  size_t noffs = 0, nlens = 0, naddrs = 0, nports = 0, nstatus = 0;
  const uint32_t* offs = TypedData<uint32_t>(info[4], &noffs);
  const uint32_t* lens = TypedData<uint32_t>(info[5], &nlens);
  const uint32_t* addrs = TypedData<uint32_t>(info[6], &naddrs);
  const uint16_t* ports = TypedData<uint16_t>(info[7], &nports);
  const uint32_t n = info[8].As<Napi::Number>().Uint32Value();
  int32_t* status = TypedData<int32_t>(info[9], &nstatus);
  if (n > noffs || n > nlens || n > naddrs || n > nports || n > nstatus ||
      (has_hdr && (hdr_len > stride || static_cast<size_t>(stride) * n > hdr_total))) {
    Napi::RangeError::New(env, "sendDatagrams: n exceeds the batch arrays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (tx_msgs_.size() < n) {
    tx_msgs_.resize(n);
    tx_iov_.resize(static_cast<size_t>(n) * 2);
    tx_names_.resize(n);
  }
  const int iovs = has_hdr ? 2 : 1;
  for (uint32_t i = 0; i < n; i++) {
    if (static_cast<size_t>(offs[i]) + lens[i] > payload.Length()) {
      Napi::RangeError::New(env, "sendDatagrams: payload lies outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    iovec* iov = &tx_iov_[static_cast<size_t>(i) * 2];
    if (has_hdr) {
      iov[0].iov_base = hdr + static_cast<size_t>(i) * stride;
      iov[0].iov_len = hdr_len;
    }
    iov[iovs - 1].iov_base = payload.Data() + offs[i];
    iov[iovs - 1].iov_len = lens[i];
    sockaddr_in& sa = tx_names_[i];
    sa.sin_family = AF_INET;
    sa.sin_port = kind_ == Kind::kRaw ? 0 : htons(ports[i]);
    sa.sin_addr.s_addr = htonl(addrs[i]);
    msghdr& m = tx_msgs_[i].msg_hdr;
    m = msghdr{};
    m.msg_name = &sa;
    m.msg_namelen = sizeof(sa);
    m.msg_iov = iov;
    m.msg_iovlen = iovs;
    status[i] = 0;
  }
  uint32_t done = 0, sent = 0;
  while (done < n && fd_ >= 0) {
    int r = sendmmsg(fd_, &tx_msgs_[done], n - done, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (IsAgain(e) || e == ENOBUFS) {
        // The socket buffer is full: everything left in the batch would fail too.
        for (; done < n; done++) status[done] = e;
        break;
      }
      status[done++] = e;  // this message is bad (e.g. EMSGSIZE); try the rest
      continue;
    }
    done += static_cast<uint32_t>(r);
    sent += static_cast<uint32_t>(r);
  }
  return Napi::Number::New(env, sent);
}

}  // namespace vxtap

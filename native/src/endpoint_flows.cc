// The flow cache's side of an Endpoint (flows.h): the install calls
// JavaScript makes, and the forwarding OnPoll does with them before it calls
// into JavaScript.
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "args.h"
#include "endpoint.h"
#include "offload.h"

namespace vxtap {

namespace {

constexpr size_t kVxlanHlen = 8;
// Outputs a cache may name: the sending sockets of a VTEP, or its ports.
constexpr uint32_t kMaxFlowOutputs = 4096;

}  // namespace

void Endpoint::DropFlows() {
  flows_.reset();
  flow_outs_.clear();
  flow_out_refs_.clear();
}

Napi::Value Endpoint::FlowEnable(const Napi::CallbackInfo& info) {
  const Args a(info, "flowEnable");
  bool on;
  if (!a.Bool(0, "on", &on)) return info.Env().Undefined();
  if (on && kind_ == Kind::kRaw) {
    a.Fail("a raw socket receives nothing, so it forwards nothing");
    return info.Env().Undefined();
  }
  if (on && flows_ != nullptr) {
    // Emptied in place: a MAC that moves empties the caches once a batch, which allocates nothing.
    flows_->Drop(-1);
    flow_outs_.clear();
    flow_out_refs_.clear();
  } else {
    DropFlows();
    if (on) flows_ = std::make_unique<FlowTable>();
  }
  return info.Env().Undefined();
}

Endpoint* Endpoint::FlowOutput(const Napi::CallbackInfo& info, const char* fn, size_t arg, uint32_t idx, Kind kind) {
  const Args a(info, fn);
  if (!info[arg].IsObject()) {
    a.Fail(arg, "out", "must be an Endpoint");
    return nullptr;
  }
  Napi::Object obj = info[arg].As<Napi::Object>();
  Endpoint* out = Napi::ObjectWrap<Endpoint>::Unwrap(obj);
  if (out == nullptr) return nullptr;  // not an Endpoint: Unwrap left the error pending
  if (out->kind_ != kind || out == this) {
    a.Fail(arg, "out", "is not an endpoint this one forwards to");
    return nullptr;
  }
  if (idx >= flow_outs_.size()) {
    flow_outs_.resize(idx + 1, nullptr);
    flow_out_refs_.resize(idx + 1);
  }
  if (flow_outs_[idx] != out) {
    flows_->Drop(static_cast<int>(idx));  // entries for the endpoint that had this index
    flow_outs_[idx] = out;
    flow_out_refs_[idx] = Napi::Persistent(obj);
  }
  return out;
}

Flow* Endpoint::FlowInstall(const FlowKey& key, uint32_t idx, uint32_t tag, double* evicted, bool* had_counts) {
  Flow* f = flows_->Insert(key, evicted, had_counts);
  f->out = static_cast<uint16_t>(idx);
  f->tag = tag;
  return f;
}

Napi::Value Endpoint::FlowToWire(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "flowToWire");
  uint8_t* buf;
  size_t buf_len, nev;
  uint32_t off, len, idx, addr, port, vni, tag;
  double* evicted;
  if (!a.Bytes(0, "buf", &buf, &buf_len) || !a.Uint(1, "off", &off) || !a.Uint(2, "len", &len) ||
      !a.Uint(3, "outIdx", &idx, kMaxFlowOutputs - 1) || !a.Uint(5, "addr", &addr) || !a.Uint(6, "port", &port, 0xffff) ||
      !a.Uint(7, "vni", &vni, 0xffffff) || !a.Uint(8, "tag", &tag) || !a.Typed(9, "evicted", &evicted, &nev)) {
    return env.Undefined();
  }
  if (static_cast<size_t>(off) + len > buf_len || nev < kFlowRecord || kind_ != Kind::kDevice) {
    a.Fail("the frame lies outside buf, evicted holds less than a record, or this is not a device");
    return env.Undefined();
  }
  FlowKey key;
  if (flows_ == nullptr || !DeviceFlowKey(buf + off, len, &key)) return Napi::Number::New(env, 0);
  Endpoint* out = FlowOutput(info, "flowToWire", 4, idx, Kind::kDatagram);
  if (out == nullptr) return env.Undefined();
  bool had = false;
  Flow* f = FlowInstall(key, idx, tag, evicted, &had);
  f->addr = addr;
  f->dst.sin_family = AF_INET;
  f->dst.sin_port = htons(static_cast<uint16_t>(port));
  f->dst.sin_addr.s_addr = htonl(addr);
  // RFC 7348 section 5: the I flag, the VNI, the reserved fields zero.
  const uint8_t hdr[kVxlanHlen] = {0x08, 0, 0, 0, static_cast<uint8_t>(vni >> 16), static_cast<uint8_t>(vni >> 8),
                                   static_cast<uint8_t>(vni), 0};
  memcpy(f->vxlan, hdr, sizeof(hdr));
  return Napi::Number::New(env, had ? 2 : 1);
}

Napi::Value Endpoint::FlowToDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "flowToDevice");
  uint8_t* buf;
  size_t buf_len, nev;
  uint32_t off, len, src, idx, mode, max_len, tag;
  double* evicted;
  if (!a.Bytes(0, "buf", &buf, &buf_len) || !a.Uint(1, "off", &off) || !a.Uint(2, "len", &len) ||
      !a.Uint(3, "src", &src) || !a.Uint(4, "outIdx", &idx, kMaxFlowOutputs - 1) ||
      !a.Uint(6, "mode", &mode, static_cast<uint32_t>(WriteMode::kCoalesceUdp)) || !a.Uint(7, "maxLen", &max_len) ||
      !a.Uint(8, "tag", &tag) || !a.Typed(9, "evicted", &evicted, &nev)) {
    return env.Undefined();
  }
  if (static_cast<size_t>(off) + len > buf_len || nev < kFlowRecord || kind_ != Kind::kDatagram ||
      static_cast<WriteMode>(mode) == WriteMode::kInBuffer) {
    a.Fail("the datagram lies outside buf, evicted holds less than a record, this is not a socket, or the mode is InBuffer");
    return env.Undefined();
  }
  FlowKey key;
  if (flows_ == nullptr || !WireFlowKey(buf + off, len, src, &key)) return Napi::Number::New(env, 0);
  Endpoint* out = FlowOutput(info, "flowToDevice", 5, idx, Kind::kDevice);
  if (out == nullptr) return env.Undefined();
  if ((static_cast<WriteMode>(mode) != WriteMode::kPlain) != out->vnet_) {
    a.Fail(6, "mode", "does not fit the device (Plain for a device without a vnet header)");
    return env.Undefined();
  }
  bool had = false;
  Flow* f = FlowInstall(key, idx, tag, evicted, &had);
  f->addr = src;
  f->mode = static_cast<uint8_t>(mode);
  f->word = max_len;
  return Napi::Number::New(env, had ? 2 : 1);
}

Napi::Value Endpoint::FlowHarvest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "flowHarvest");
  double* out;
  size_t nout;
  if (!a.Typed(0, "out", &out, &nout)) return env.Undefined();
  if (flows_ == nullptr) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, flows_->Harvest(out, static_cast<uint32_t>(nout / kFlowRecord)));
}

uint32_t Endpoint::Forward(uint32_t n, bool* missed) {
  if (fwd_flows_.size() < n) {
    // Once per endpoint, at its first batch this large: from then on the forwarding allocates nothing.
    fwd_flows_.resize(n);
    fwd_offs_.resize(n);
    fwd_lens_.resize(n);
    if (tx_msgs_.size() < n) {
      tx_msgs_.resize(n);
      tx_iov_.resize(static_cast<size_t>(n) * 2);
      tx_names_.resize(n);
      tx_ctrl_.resize(static_cast<size_t>(n) * CMSG_SPACE(sizeof(uint16_t)));
    }
  }
  return kind_ == Kind::kDatagram ? ForwardFromWire(n, missed) : ForwardFromDevice(n, missed);
}

// TAP -> wire: each frame gets its VXLAN header in the headroom and goes to
// its remote VTEP, one sendmmsg per run of frames on the same socket.
uint32_t Endpoint::ForwardFromDevice(uint32_t n, bool* missed) {
  Endpoint* run_out = nullptr;
  uint32_t run_first = 0, run_n = 0, i = 0;
  for (; i < n; i++) {
    uint8_t* slot = slab_ + static_cast<size_t>(i) * slot_size_;
    uint8_t* frame = slot + headroom_;
    const uint32_t len = lens_[i];
    if (vnet_ && slot[1] != 0) break;  // gso_type: a super-frame, split by JavaScript
    FlowKey key;
    if (!DeviceFlowKey(frame, len, &key)) break;
    Flow* f = flows_->Find(key);
    Endpoint* out = f == nullptr || f->out >= flow_outs_.size() ? nullptr : flow_outs_[f->out];
    if (out == nullptr || out->fd_ < 0) {
      *missed = true;
      break;
    }
    if (out != run_out) {
      if (run_n > 0) {
        const uint32_t sent = SendRun(run_out, run_first, run_n);
        if (sent < run_n) return run_first + sent;
      }
      run_out = out;
      run_first = i;
      run_n = 0;
    }
    memcpy(frame - kVxlanHlen, f->vxlan, kVxlanHlen);
    iovec& iov = tx_iov_[i];
    iov.iov_base = frame - kVxlanHlen;
    iov.iov_len = len + kVxlanHlen;
    msghdr& m = tx_msgs_[i].msg_hdr;
    m = msghdr{};
    m.msg_name = &f->dst;
    m.msg_namelen = sizeof(f->dst);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    fwd_flows_[i] = f;
    run_n++;
  }
  if (run_n > 0) {
    const uint32_t sent = SendRun(run_out, run_first, run_n);
    if (sent < run_n) return run_first + sent;
  }
  return i;
}

uint32_t Endpoint::SendRun(Endpoint* out, uint32_t first, uint32_t count) {
  uint32_t sent = 0;
  while (sent < count) {
    const int r = sendmmsg(out->fd_, &tx_msgs_[first + sent], count - sent, MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // JavaScript sends the rest again, and counts what fails
    sent += static_cast<uint32_t>(r);
  }
  for (uint32_t k = first; k < first + sent; k++) {
    fwd_flows_[k]->packets++;
    fwd_flows_[k]->bytes += lens_[k];
  }
  return sent;
}

// Wire -> TAP: single datagrams (not a GRO train) whose inner frame fits the
// port, written as JavaScript writes them, one call per run to the same port.
uint32_t Endpoint::ForwardFromWire(uint32_t n, bool* missed) {
  const uint32_t cap = slot_size_ - headroom_;
  Endpoint* run_out = nullptr;
  WriteMode run_mode = WriteMode::kPlain;
  uint32_t run_first = 0, run_n = 0, i = 0;
  const auto flush = [&]() {
    const uint32_t w = run_out->WriteInOrder(slab_, &fwd_offs_[run_first], &fwd_lens_[run_first], run_n, run_mode);
    for (uint32_t k = run_first; k < run_first + w; k++) {
      fwd_flows_[k]->packets++;
      fwd_flows_[k]->bytes += fwd_lens_[k];
    }
    return w;
  };
  for (; i < n; i++) {
    const uint32_t len = lens_[i];
    if (len > cap || (segs_ != nullptr && segs_[i] != 0 && segs_[i] < len)) break;
    const size_t off = static_cast<size_t>(i) * slot_size_ + headroom_;
    FlowKey key;
    if (!WireFlowKey(slab_ + off, len, addrs_[i], &key)) break;
    Flow* f = flows_->Find(key);
    Endpoint* out = f == nullptr || f->out >= flow_outs_.size() ? nullptr : flow_outs_[f->out];
    if (out == nullptr || out->fd_ < 0) {
      *missed = true;
      break;
    }
    if (len - kVxlanHlen > f->word) break;  // a super-frame for the port's MTU: JavaScript cuts it
    const auto mode = static_cast<WriteMode>(f->mode);
    if (out != run_out || mode != run_mode) {
      if (run_n > 0) {
        const uint32_t w = flush();
        if (w < run_n) return run_first + w;
      }
      run_out = out;
      run_mode = mode;
      run_first = i;
      run_n = 0;
    }
    fwd_offs_[i] = static_cast<uint32_t>(off + kVxlanHlen);
    fwd_lens_[i] = len - kVxlanHlen;
    fwd_flows_[i] = f;
    run_n++;
  }
  if (run_n > 0) {
    const uint32_t w = flush();
    if (w < run_n) return run_first + w;
  }
  return i;
}

uint32_t Endpoint::WriteInOrder(uint8_t* base, const uint32_t* offs, const uint32_t* lens, uint32_t n, WriteMode mode) {
  if (fd_ < 0) return 0;
  if (mode == WriteMode::kPlain) {
    for (uint32_t i = 0; i < n; i++) {
      bool partial = false;
      if (WritePlain(base + offs[i], lens[i], &partial) != 0) return i;
      partial_csums_ += partial;
    }
    return n;
  }
  size_t partials = 0;
  uint32_t written = 0;
  Coalesce(base, offs, lens, nullptr, n, l3off_, mode == WriteMode::kCoalesceUdp, &partials,
           [&](const uint8_t* hdr, const iovec* iov, size_t cnt, uint32_t first, uint32_t count) {
             if (WriteGather(hdr, iov, cnt) != 0) return false;
             written += count;
             return true;
           });
  partial_csums_ += static_cast<double>(partials);
  return written;
}

}  // namespace vxtap

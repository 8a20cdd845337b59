// Batched packet I/O over one file descriptor (TAP/TUN device or socket).
//
// The contract is batch-shaped: JS hands in caller-owned Buffers and typed
// arrays once, native code fills or drains them one whole batch per call.
// There is no per-packet crossing between JS and C++.
#pragma once

#include <napi.h>
#include <uv.h>

#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <memory>
#include <vector>

#include "flows.h"

namespace vxtap {

// What kind of descriptor an Endpoint wraps decides the syscalls it uses.
enum class Kind : int {
  kDevice = 0,    // TAP/TUN: one frame per read()/write()
  kDatagram = 1,  // UDP socket: recvmmsg()/sendmmsg()
  kRaw = 2,       // raw IPv4 socket with IP_HDRINCL: sendmmsg() only
};

// How writeFrames treats the virtio-net header of a vnet device.
enum class WriteMode : int {
  kPlain = 0,     // no header (device without IFF_VNET_HDR)
  kInBuffer = 1,  // each frame's header is hdrBack bytes before it (frames read from a vnet device)
  kCoalesce = 2,     // build headers; merge consecutive TCP/IPv4 segments into super-frames (GRO)
  kCoalesceUdp = 3,  // as kCoalesce, and equal UDP/IPv4 datagrams of a flow too (devices with USO)
};

class Endpoint : public Napi::ObjectWrap<Endpoint> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Endpoint(const Napi::CallbackInfo& info);
  ~Endpoint() override;

 private:
  // startRx(slab, slotSize, headroom, budget, lens, addrs|null, ports|null, segs|null, cb)
  Napi::Value StartRx(const Napi::CallbackInfo& info);
  // writeFrames(buf, offs, lens, n, mode, hdrBack, gso|null, status) -> frames written (devices)
  Napi::Value WriteFrames(const Napi::CallbackInfo& info);
  // sendDatagrams(hdr|null, hdrStride, hdrLen, payload, offs, lens, addrs, ports, n, status, gso|null) -> sent
  Napi::Value SendDatagrams(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // flowEnable(on): a new, empty flow cache (flows.h), or none; either way the old one is dropped.
  Napi::Value FlowEnable(const Napi::CallbackInfo& info);
  // flowToWire(buf, off, len, outIdx, out, addr, port, vni, tag, evicted) -> 0 (not taken), 1, or 2 (an entry with counts was replaced: its record is in evicted)
  Napi::Value FlowToWire(const Napi::CallbackInfo& info);
  // flowToDevice(buf, off, len, src, outIdx, out, mode, maxLen, tag, evicted) -> as flowToWire
  Napi::Value FlowToDevice(const Napi::CallbackInfo& info);
  // flowHarvest(out) -> records written (kFlowRecord doubles each)
  Napi::Value FlowHarvest(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetPartialChecksums(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvTeardown(void* arg);
  int Drain();
  int DrainDevice();
  // The flow cache's part of a batch: forwards packets from the first on
  // while each has an entry, and returns how many it forwarded. *missed: the
  // packet it stopped at has a key but no entry (one JavaScript may install).
  uint32_t Forward(uint32_t n, bool* missed);
  uint32_t ForwardFromDevice(uint32_t n, bool* missed);
  uint32_t ForwardFromWire(uint32_t n, bool* missed);
  // Sends messages tx_msgs_[first, +count) on out; returns how many went.
  uint32_t SendRun(Endpoint* out, uint32_t first, uint32_t count);
  // Writes frames base[offs[i], +lens[i]) in order, stopping at the first
  // that fails; returns how many were written.
  uint32_t WriteInOrder(uint8_t* base, const uint32_t* offs, const uint32_t* lens, uint32_t n, WriteMode mode);
  // A frame from the wire to a device without a virtio-net header, its
  // partial checksum finished first; 0 or the errno.
  int WritePlain(uint8_t* frame, size_t len, bool* partial);
  // The flow's output `idx` is `out` (kept alive while the cache is).
  Endpoint* FlowOutput(const Napi::CallbackInfo& info, const char* fn, size_t arg, uint32_t idx, Kind kind);
  // The cache's install: Insert, then the entry's output and tag; returns what flowTo* returns.
  Flow* FlowInstall(const FlowKey& key, uint32_t idx, uint32_t tag, double* evicted, bool* had_counts);
  void DropFlows();
  void ReleaseRx();
  // The write calls return 0 or the errno (EAGAIN: the device queue is full).
  int WriteOne(const uint8_t* hdr, const uint8_t* frame, size_t len);
  // One writev of the virtio-net header (if any) and n pieces (n <= kMaxRunSegments + 1).
  int WriteGather(const uint8_t* hdr, const iovec* pieces, size_t n);
  // A super-frame to a device without a virtio-net header: split into
  // segments of gso_size payload bytes, each with its checksums, written one
  // by one; the first error ends it.
  int WriteSplit(uint8_t* frame, size_t len, uint16_t gso_size, bool* partial);

  int fd_ = -1;
  Kind kind_ = Kind::kDevice;
  bool polling_ = false;
  // Devices opened with IFF_VNET_HDR carry a 10-byte virtio-net header in
  // front of every frame; l3off_ is where the IP header starts (14 on TAP).
  bool vnet_ = false;
  size_t l3off_ = 0;
  // Frames written whose partial TCP/UDP checksum (FindPartialCsum) was
  // finished here or handed to the device with NEEDS_CSUM.
  double partial_csums_ = 0;
  std::vector<uint8_t> split_;  // WriteSplit's segments

  // Receive side, valid while polling_.
  uv_poll_t* poll_ = nullptr;
  // The environment the poll's cleanup hook is registered with, while polling_.
  napi_env hook_env_ = nullptr;
  // Poll errors (POLLERR) since the last packet read; see OnPoll.
  uint32_t poll_errors_ = 0;
  Napi::ObjectReference rx_refs_;
  Napi::FunctionReference rx_cb_;
  Napi::AsyncContext* rx_ctx_ = nullptr;
  uint8_t* slab_ = nullptr;
  size_t slab_len_ = 0;
  uint32_t slot_size_ = 0;
  uint32_t headroom_ = 0;
  uint32_t budget_ = 0;
  uint32_t* lens_ = nullptr;
  uint32_t* addrs_ = nullptr;
  uint16_t* ports_ = nullptr;
  uint16_t* segs_ = nullptr;  // UDP GRO segment size per datagram (0: none)
  std::vector<mmsghdr> rx_msgs_;
  // Headers the last recvmmsg filled (it writes no others): the next Drain
  // resets only these, so a one-datagram batch touches one header, not budget_.
  uint32_t rx_filled_ = 0;
  std::vector<uint8_t> rx_ctrl_;
  std::vector<iovec> rx_iov_;
  std::vector<sockaddr_in> rx_names_;

  // The flow cache, while JavaScript keeps one, and the endpoints its entries
  // forward to (by index), each referenced so that it outlives the cache.
  std::unique_ptr<FlowTable> flows_;
  std::vector<Endpoint*> flow_outs_;
  std::vector<Napi::ObjectReference> flow_out_refs_;
  // Per packet of a Forward: its entry, and (from the wire) its inner frame.
  std::vector<Flow*> fwd_flows_;
  std::vector<uint32_t> fwd_offs_;
  std::vector<uint32_t> fwd_lens_;

  // Send side scratch, grown on demand and then reused.
  std::vector<mmsghdr> tx_msgs_;
  std::vector<iovec> tx_iov_;
  std::vector<sockaddr_in> tx_names_;
  std::vector<uint8_t> tx_ctrl_;
};



}  // namespace vxtap

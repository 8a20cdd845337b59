// The flow cache: an exact-match table of decisions the TypeScript data path
// has made, so that a packet of a flow it has already forwarded is forwarded
// again inside the poll callback, without the call into JavaScript.
//
// It holds no policy. JavaScript installs each entry (flowToWire /
// flowToDevice in endpoint.cc) for a packet it has just forwarded, and only
// where the next packet with the same key would be forwarded the same way;
// it clears the whole table whenever a decision could change (an FDB entry
// moves or ages out, a port or network goes, a capture starts). The key holds
// every byte the decision and the outer source port depend on:
//
//   from a device: the Ethernet header (both MACs, EtherType) and, for IPv4
//     or IPv6 without a VLAN tag, the addresses, the protocol and, for
//     TCP/UDP/SCTP that is not a later fragment, the ports: the inputs of
//     the flow hash (src/vxlan/flowhash.ts) that picks the source port;
//   from the wire: the sender's address, the 8-byte VXLAN header and the
//     inner Ethernet header.
//
// Each entry counts the packets and bytes it forwarded; JavaScript collects
// them (Harvest) to keep its counters and its FDB's ageing true.
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <vector>

namespace vxtap {

constexpr size_t kFlowKeyWords = 7;  // 56 bytes: an IPv6 key (52) zero-padded

struct FlowKey {
  uint64_t w[kFlowKeyWords] = {};
};

// A frame from a device (Ethernet, at frame[0, len)): its key, or false when
// the frame is not one the cache takes (too short, VLAN-tagged, not IP).
bool DeviceFlowKey(const uint8_t* frame, size_t len, FlowKey* key);
// A VXLAN datagram (VXLAN header at d[0], len bytes) from IPv4 `src`.
bool WireFlowKey(const uint8_t* d, size_t len, uint32_t src, FlowKey* key);

struct Flow {
  FlowKey key;
  bool used = false;
  uint16_t out = 0;       // index into the owning endpoint's outputs
  uint32_t tag = 0;       // JavaScript's name for what the packets count towards
  uint32_t addr = 0;      // recorded for the harvest (the remote VTEP, for a flow from the wire)
  uint32_t word = 0;      // to the wire: unused; to a device: the longest inner frame
  uint8_t mode = 0;       // to a device: its write mode
  uint8_t vxlan[8] = {};  // to the wire: the VXLAN header
  sockaddr_in dst = {};   // to the wire: the remote VTEP
  uint64_t stamp = 0;     // when it was last installed or hit, for replacement
  double packets = 0, bytes = 0;
};

// One record per entry that forwarded packets: tag, MAC (hi 16 bits, lo 32
// bits: the key's source MAC), addr, packets, bytes.
constexpr size_t kFlowRecord = 6;

class FlowTable {
 public:
  static constexpr uint32_t kWays = 2;
  static constexpr uint32_t kSets = 128;
  static constexpr uint32_t kEntries = kWays * kSets;

  FlowTable();
  // The entry with this key, or nullptr.
  Flow* Find(const FlowKey& key);
  // The entry for key, replacing the older of its set's two when both are
  // taken: if that one had counts not yet harvested, they go to
  // evicted[0, kFlowRecord) and *had_counts is set.
  Flow* Insert(const FlowKey& key, double* evicted, bool* had_counts);
  // Records of the entries with counts into out (room for `room` records),
  // their counts zeroed; returns how many were written.
  uint32_t Harvest(double* out, uint32_t room);
  // Drops every entry whose output is `out` (all of them when out < 0).
  void Drop(int out);
  uint32_t size() const { return size_; }

 private:
  uint32_t SetOf(const FlowKey& key) const;
  // f's record into out[0, kFlowRecord), and its counts zeroed.
  static void Harvest1(Flow& f, double* out);

  std::vector<Flow> flows_;
  uint64_t seed_;
  uint64_t clock_ = 0;
  uint32_t size_ = 0;
};

}  // namespace vxtap

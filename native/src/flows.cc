#include "flows.h"

#include <string.h>
#include <sys/random.h>

namespace vxtap {

namespace {

constexpr size_t kEthHlen = 14;
constexpr uint16_t kTypeIpv4 = 0x0800;
constexpr uint16_t kTypeIpv6 = 0x86dd;

bool HasPorts(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132; }

// The key's bytes, in the order the layouts in flows.h give.
struct KeyBytes {
  uint8_t b[kFlowKeyWords * 8] = {};
  size_t n = 0;
  void Put(const uint8_t* p, size_t len) {
    memcpy(b + n, p, len);
    n += len;
  }
  void Put(uint8_t v) { b[n++] = v; }
  void To(FlowKey* key) const { memcpy(key->w, b, sizeof(b)); }
};

}  // namespace

bool DeviceFlowKey(const uint8_t* f, size_t len, FlowKey* key) {
  if (len < kEthHlen) return false;
  const uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
  const size_t p = kEthHlen;
  KeyBytes k;
  k.Put(f, kEthHlen);
  if (type == kTypeIpv4 && p + 20 <= len) {
    const size_t ihl = (f[p] & 0x0f) * 4u;
    const uint8_t proto = f[p + 9];
    const bool first = ((f[p + 6] & 0x1f) << 8 | f[p + 7]) == 0;
    const bool ports = HasPorts(proto) && first && p + ihl + 4 <= len;
    k.Put(f + p + 12, 8);
    k.Put(proto);
    k.Put(ports);
    if (ports) k.Put(f + p + ihl, 4);
  } else if (type == kTypeIpv6 && p + 40 <= len) {
    const uint8_t next = f[p + 6];
    const bool ports = HasPorts(next) && p + 44 <= len;
    k.Put(f + p + 8, 32);
    k.Put(next);
    k.Put(ports);
    if (ports) k.Put(f + p + 40, 4);
  } else {
    return false;
  }
  k.To(key);
  return true;
}

bool WireFlowKey(const uint8_t* d, size_t len, uint32_t src, FlowKey* key) {
  constexpr size_t kVxlanHlen = 8;
  if (len < kVxlanHlen + kEthHlen) return false;
  KeyBytes k;
  k.Put(d + kVxlanHlen, kEthHlen);
  k.Put(d, kVxlanHlen);
  k.Put(reinterpret_cast<const uint8_t*>(&src), sizeof(src));
  k.To(key);
  return true;
}

FlowTable::FlowTable() : flows_(kEntries) {
  // A seed of its own, so that senders cannot aim packets at one set.
  if (getrandom(&seed_, sizeof(seed_), 0) != sizeof(seed_)) seed_ = reinterpret_cast<uintptr_t>(this) * 0x9e3779b97f4a7c15ull;
}

uint32_t FlowTable::SetOf(const FlowKey& key) const {
  uint64_t h = seed_;
  for (uint64_t w : key.w) {
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  }
  return static_cast<uint32_t>(h >> 32) & (kSets - 1);
}

Flow* FlowTable::Find(const FlowKey& key) {
  Flow* set = &flows_[SetOf(key) * kWays];
  for (uint32_t i = 0; i < kWays; i++) {
    Flow& f = set[i];
    if (f.used && memcmp(f.key.w, key.w, sizeof(key.w)) == 0) {
      f.stamp = ++clock_;
      return &f;
    }
  }
  return nullptr;
}

Flow* FlowTable::Insert(const FlowKey& key, double* evicted, bool* had_counts) {
  *had_counts = false;
  Flow* f = Find(key);
  if (f == nullptr) {
    Flow* set = &flows_[SetOf(key) * kWays];
    f = &set[0];
    for (uint32_t i = 0; i < kWays; i++) {
      if (!set[i].used) {
        f = &set[i];
        break;
      }
      if (set[i].stamp < f->stamp) f = &set[i];
    }
    if (f->used && f->packets > 0) {
      Harvest1(*f, evicted);
      *had_counts = true;
    }
    if (!f->used) size_++;
    *f = Flow{};
    f->key = key;
    f->used = true;
  }
  f->stamp = ++clock_;
  return f;
}

void FlowTable::Harvest1(Flow& f, double* out) {
  const uint8_t* k = reinterpret_cast<const uint8_t*>(f.key.w);
  out[0] = f.tag;
  out[1] = k[6] << 8 | k[7];
  out[2] = static_cast<double>(static_cast<uint32_t>(k[8]) << 24 | k[9] << 16 | k[10] << 8 | k[11]);
  out[3] = f.addr;
  out[4] = f.packets;
  out[5] = f.bytes;
  f.packets = 0;
  f.bytes = 0;
}

uint32_t FlowTable::Harvest(double* out, uint32_t room) {
  uint32_t n = 0;
  for (Flow& f : flows_) {
    if (n == room) break;
    if (f.used && f.packets > 0) Harvest1(f, out + static_cast<size_t>(n++) * kFlowRecord);
  }
  return n;
}

void FlowTable::Drop(int out) {
  for (Flow& f : flows_) {
    if (!f.used || (out >= 0 && f.out != out)) continue;
    f = Flow{};
    size_--;
  }
}

}  // namespace vxtap

// Big-endian fixed-width integer coding, so that encoded keys sort in numeric
// order under RocksDB's bytewise comparator.
#pragma once

#include <cstdint>
#include <string>

namespace reprise {

inline void EncodeBigEndian64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline void EncodeBigEndian32(uint32_t v, char* out) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline uint64_t DecodeBigEndian64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

inline uint32_t DecodeBigEndian32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

inline void AppendBigEndian64(std::string& out, uint64_t v) {
  char buf[8];
  EncodeBigEndian64(v, buf);
  out.append(buf, 8);
}

inline void AppendBigEndian32(std::string& out, uint32_t v) {
  char buf[4];
  EncodeBigEndian32(v, buf);
  out.append(buf, 4);
}

}  // namespace reprise

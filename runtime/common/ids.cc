#include "runtime/common/ids.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/common/big_endian.h"

namespace reprise {

absl::StatusOr<InvocationId> InvocationId::FromBytes(std::string_view bytes) {
  if (bytes.size() != kBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invocation id must be ", kBytes, " bytes, got ", bytes.size()));
  }
  return InvocationId(DecodeBigEndian64(bytes.data()),
                      DecodeBigEndian64(bytes.data() + 8));
}

absl::StatusOr<InvocationId> InvocationId::Parse(std::string_view text) {
  constexpr std::string_view kPrefix = "inv_";
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid invocation id '%s': expected inv_ followed by 32 hex digits",
        text));
  };
  if (text.size() != kPrefix.size() + 2 * kBytes ||
      text.substr(0, kPrefix.size()) != kPrefix) {
    return invalid();
  }
  std::string_view hex = text.substr(kPrefix.size());
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return invalid();
  }
  return FromBytes(
      absl::HexStringToBytes(absl::string_view(hex.data(), hex.size())));
}

std::string InvocationId::ToBytes() const {
  std::string out(kBytes, '\0');
  EncodeBigEndian64(partition_key_, out.data());
  EncodeBigEndian64(unique_, out.data() + 8);
  return out;
}

std::string InvocationId::ToString() const {
  return absl::StrCat("inv_", absl::BytesToHexString(ToBytes()));
}

absl::StatusOr<AwakeableRef> AwakeableRef::Parse(std::string_view text) {
  constexpr std::string_view kPrefix = "awk_";
  constexpr size_t kBytes = InvocationId::kBytes + 4;
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid awakeable id '%s': expected awk_ followed by 40 hex digits",
        text));
  };
  if (text.size() != kPrefix.size() + 2 * kBytes ||
      text.substr(0, kPrefix.size()) != kPrefix) {
    return invalid();
  }
  std::string_view hex = text.substr(kPrefix.size());
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return invalid();
  }
  const std::string bytes =
      absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
  AwakeableRef ref;
  ref.invocation_id = *InvocationId::FromBytes(
      std::string_view(bytes.data(), InvocationId::kBytes));
  ref.index = DecodeBigEndian32(bytes.data() + InvocationId::kBytes);
  return ref;
}

std::string AwakeableRef::ToString() const {
  std::string bytes = invocation_id.ToBytes();
  bytes.resize(InvocationId::kBytes + 4);
  EncodeBigEndian32(index, bytes.data() + InvocationId::kBytes);
  return absl::StrCat("awk_", absl::BytesToHexString(bytes));
}

uint64_t StableHash64(uint64_t basis, std::string_view bytes) {
  uint64_t h = basis;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

uint64_t KeyPartitionHash(std::string_view service, std::string_view key) {
  std::string bytes(service);
  bytes.push_back('\0');
  bytes.append(key);
  return StableHash64(kHashBasisA, bytes);
}

std::string LengthPrefixed(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) {
    absl::StrAppend(&out, part.size(), ":");
    out.append(part);
  }
  return out;
}

InvocationId DerivedInvocationId(std::string_view seed,
                                 std::string_view service,
                                 std::string_view key) {
  // The two halves use different bases, so they are independent.
  const uint64_t partition_key = key.empty() ? StableHash64(kHashBasisA, seed)
                                             : KeyPartitionHash(service, key);
  return InvocationId(partition_key, StableHash64(kHashBasisB, seed));
}

}  // namespace reprise

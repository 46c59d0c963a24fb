#include "runtime/common/ids.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/common/big_endian.h"
#include "runtime/common/status_macros.h"

namespace reprise {
namespace {

// The `bytes` bytes that `text`, "<prefix><2 * bytes hex digits>", encodes.
absl::StatusOr<std::string> ParsePrefixedHex(std::string_view text,
                                             std::string_view prefix,
                                             size_t bytes,
                                             std::string_view what) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid %s id '%s': expected %s followed by %d hex "
                        "digits",
                        what, text, prefix, 2 * bytes));
  };
  if (text.size() != prefix.size() + 2 * bytes ||
      text.substr(0, prefix.size()) != prefix) {
    return invalid();
  }
  std::string_view hex = text.substr(prefix.size());
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return invalid();
  }
  return absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
}

}  // namespace

absl::StatusOr<InvocationId> InvocationId::FromBytes(std::string_view bytes) {
  if (bytes.size() != kBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invocation id must be ", kBytes, " bytes, got ", bytes.size()));
  }
  return InvocationId(DecodeBigEndian64(bytes.data()),
                      DecodeBigEndian64(bytes.data() + 8));
}

absl::StatusOr<InvocationId> InvocationId::Parse(std::string_view text) {
  REPRISE_ASSIGN_OR_RETURN(
      std::string bytes, ParsePrefixedHex(text, "inv_", kBytes, "invocation"));
  return FromBytes(bytes);
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
  REPRISE_ASSIGN_OR_RETURN(
      std::string bytes,
      ParsePrefixedHex(text, "awk_", InvocationId::kBytes + 4, "awakeable"));
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

InvocationId CalleeInvocationId(const InvocationId& caller,
                                std::string_view seed, std::string_view service,
                                std::string_view key, uint32_t sequence) {
  if (!key.empty()) return DerivedInvocationId(seed, service, key);
  return InvocationId(
      (caller.partition_key() & ~uint64_t{0xffffffff}) | sequence,
      StableHash64(kHashBasisB, seed));
}

InvocationId WorkflowRunId(std::string_view service, std::string_view key) {
  return DerivedInvocationId(LengthPrefixed({"workflow-run", service, key}),
                             service, key);
}

}  // namespace reprise

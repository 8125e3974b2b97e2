#include "re_dms/compression.h"

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;

// Text that compresses like CSV does, with a run of random bytes that does
// not compress at all, so both of the compressors' paths are exercised.
std::string SampleData(size_t size) {
  std::mt19937 random(7);
  std::string data;
  while (data.size() < size / 2) {
    absl::StrAppend(&data, "\"", random() % 100000, "\",\"name ", random() % 50,
                    "\",\"O'Brien\"\n");
  }
  while (data.size() < size) data.push_back(static_cast<char>(random()));
  data.resize(size);
  return data;
}

// Feeds `input` to `write` in pieces of `piece` bytes.
template <typename Write>
absl::Status InPieces(absl::string_view input, size_t piece, Write write) {
  do {
    absl::string_view part = input.substr(0, piece);
    absl::Status status = write(part);
    if (!status.ok()) return status;
    input.remove_prefix(part.size());
  } while (!input.empty());
  return absl::OkStatus();
}

std::string Compress(Compression compression, absl::string_view input, size_t piece = 1 << 20) {
  auto compressor = Compressor::Create(compression, compression == Compression::kGzip ? 6 : 3);
  EXPECT_TRUE(compressor.ok()) << compressor.status();
  std::string out;
  auto sink = [&out](absl::string_view bytes) {
    out.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  };
  EXPECT_TRUE(InPieces(input, piece, [&](absl::string_view part) {
                return (*compressor)->Write(part, sink);
              }).ok());
  EXPECT_TRUE((*compressor)->Finish(sink).ok());
  return out;
}

absl::StatusOr<std::string> Decompress(Compression compression, absl::string_view input,
                                       size_t piece = 1 << 20) {
  auto decompressor = Decompressor::Create(compression);
  if (!decompressor.ok()) return decompressor.status();
  std::string out;
  size_t largest_chunk = 0;
  auto sink = [&](absl::string_view bytes) {
    largest_chunk = std::max(largest_chunk, bytes.size());
    out.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  };
  absl::Status status = InPieces(
      input, piece, [&](absl::string_view part) { return (*decompressor)->Write(part, sink); });
  if (status.ok()) status = (*decompressor)->Finish();
  if (!status.ok()) return status;
  EXPECT_LE(largest_chunk, 256u << 10) << "output chunks must stay bounded";
  return out;
}

class CompressionRoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressionRoundTrip, RestoresEveryByteWhateverThePieceSizes) {
  const std::string data = SampleData(3 << 20);
  for (size_t write_piece : {size_t{1} << 20, size_t{4093}}) {
    std::string compressed = Compress(GetParam(), data, write_piece);
    if (GetParam() != Compression::kNone) {
      EXPECT_LT(compressed.size(), data.size());
    }
    for (size_t read_piece : {size_t{1} << 20, size_t{777}}) {
      auto restored = Decompress(GetParam(), compressed, read_piece);
      ASSERT_TRUE(restored.ok()) << restored.status();
      EXPECT_TRUE(*restored == data)
          << "write piece " << write_piece << ", read piece " << read_piece;
    }
  }
}

TEST_P(CompressionRoundTrip, RestoresEveryByteFedOneByteAtATime) {
  const std::string data = SampleData(64 << 10);
  auto restored = Decompress(GetParam(), Compress(GetParam(), data, 1), 1);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(*restored == data);
}

TEST_P(CompressionRoundTrip, EmptyInputIsAValidStream) {
  std::string compressed = Compress(GetParam(), "");
  auto restored = Decompress(GetParam(), compressed);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, "");
}

TEST_P(CompressionRoundTrip, OneCompressorWritesIndependentStreamsThatConcatenate) {
  auto compressor = Compressor::Create(GetParam(), 1);
  ASSERT_TRUE(compressor.ok());
  std::vector<std::string> streams(2);
  for (int i = 0; i < 2; ++i) {
    auto sink = [&](absl::string_view bytes) {
      streams[i].append(bytes.data(), bytes.size());
      return absl::OkStatus();
    };
    ASSERT_TRUE((*compressor)->Write(absl::StrCat("stream ", i, "\n"), sink).ok());
    ASSERT_TRUE((*compressor)->Finish(sink).ok());
  }
  EXPECT_EQ(*Decompress(GetParam(), streams[0]), "stream 0\n");
  EXPECT_EQ(*Decompress(GetParam(), streams[1]), "stream 1\n");
  // Both formats allow frames back to back; Redshift reads such files too.
  EXPECT_EQ(*Decompress(GetParam(), streams[0] + streams[1]), "stream 0\nstream 1\n");
}

TEST_P(CompressionRoundTrip, SinkErrorsComeBackUnchanged) {
  auto compressor = Compressor::Create(GetParam(), 1);
  ASSERT_TRUE(compressor.ok());
  auto failing = [](absl::string_view) { return absl::ResourceExhaustedError("disk full"); };
  absl::Status status = (*compressor)->Write(SampleData(1 << 20), failing);
  if (status.ok()) status = (*compressor)->Finish(failing);
  EXPECT_EQ(status, absl::ResourceExhaustedError("disk full"));

  std::string compressed = Compress(GetParam(), "some bytes");
  auto decompressor = Decompressor::Create(GetParam());
  ASSERT_TRUE(decompressor.ok());
  EXPECT_EQ((*decompressor)->Write(compressed, failing), absl::ResourceExhaustedError("disk full"));
}

INSTANTIATE_TEST_SUITE_P(AllCompressions, CompressionRoundTrip,
                         ::testing::Values(Compression::kNone, Compression::kGzip,
                                           Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

class CompressedFormats : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressedFormats, TruncatedStreamIsDataLoss) {
  std::string compressed = Compress(GetParam(), SampleData(100000));
  for (size_t keep : {size_t{0}, size_t{5}, compressed.size() / 2, compressed.size() - 1}) {
    auto restored = Decompress(GetParam(), compressed.substr(0, keep));
    ASSERT_FALSE(restored.ok()) << "kept " << keep << " bytes";
    EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(restored.status().message(), HasSubstr("truncated"));
  }
}

TEST_P(CompressedFormats, CorruptStreamIsDataLossWithOffset) {
  std::string compressed = Compress(GetParam(), SampleData(100000));
  // Damage the middle of the stream; the frame checksum (zstd) or CRC (gzip)
  // catches what the decoder alone might not.
  for (size_t i = compressed.size() / 2; i < compressed.size() / 2 + 16; ++i) compressed[i] ^= 0x5a;
  auto restored = Decompress(GetParam(), compressed);
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(restored.status().message(), HasSubstr("compressed byte offset"));
}

TEST_P(CompressedFormats, GarbageIsDataLoss) {
  auto restored = Decompress(GetParam(), "this is not compressed at all, just text\n");
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss);
}

INSTANTIATE_TEST_SUITE_P(ZstdAndGzip, CompressedFormats,
                         ::testing::Values(Compression::kGzip, Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

TEST(Compression, LevelsOutOfRangeAreRefused) {
  EXPECT_EQ(Compressor::Create(Compression::kZstd, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Compressor::Create(Compression::kZstd, -1).ok());
  EXPECT_EQ(Compressor::Create(Compression::kZstd, 23).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Compressor::Create(Compression::kGzip, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Compressor::Create(Compression::kNone, 0).ok());
}

TEST(Compression, NamesAndSuffixes) {
  for (Compression compression : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    EXPECT_EQ(*ParseCompression(CompressionName(compression)), compression);
  }
  EXPECT_EQ(CompressionSuffix(Compression::kZstd), ".zst");
  EXPECT_EQ(CompressionSuffix(Compression::kGzip), ".gz");
  EXPECT_EQ(CompressionSuffix(Compression::kNone), "");
  EXPECT_THAT(ParseCompression("lz4").status().message(), HasSubstr("lz4"));
}

TEST(Compression, DecompressFileNamesThePath) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/truncated.csv.zst");
  std::string compressed = Compress(Compression::kZstd, SampleData(50000));
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  std::fwrite(compressed.data(), 1, compressed.size() - 10, file);
  std::fclose(file);
  absl::Status status =
      DecompressFile(path, Compression::kZstd, [](absl::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(DecompressFile(path + ".missing", Compression::kZstd,
                             [](absl::string_view) { return absl::OkStatus(); })
                  .message(),
              HasSubstr(path + ".missing"));
}

}  // namespace
}  // namespace re_dms

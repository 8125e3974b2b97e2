#include "re_dms/compression.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace re_dms {
namespace {

// Output is handed to sinks in pieces of this size: large enough that the
// per-call cost vanishes, small enough to keep memory flat.
constexpr size_t kOutputChunk = 256 << 10;
// zlib counts in 32-bit integers; feed it at most this much at once.
constexpr size_t kMaxZlibInput = 1u << 30;

absl::Status ZstdError(absl::string_view what, size_t code, uint64_t offset) {
  return absl::DataLossError(
      absl::StrCat(what, " at compressed byte offset ", offset, ": ", ZSTD_getErrorName(code)));
}

class NoCompressor final : public Compressor {
 public:
  absl::Status Write(absl::string_view input, ByteSink sink) override {
    return input.empty() ? absl::OkStatus() : sink(input);
  }
  absl::Status Finish(ByteSink) override { return absl::OkStatus(); }
};

class ZstdCompressor final : public Compressor {
 public:
  ZstdCompressor() : context_(ZSTD_createCCtx()), output_(kOutputChunk, '\0') {}
  ~ZstdCompressor() override { ZSTD_freeCCtx(context_); }

  absl::Status Init(int level) {
    if (context_ == nullptr) return absl::ResourceExhaustedError("cannot allocate a zstd context");
    // Negative levels are zstd's --fast modes; 0 would silently mean 3.
    if (level == 0 || level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
      return absl::InvalidArgumentError(absl::StrCat("zstd level must be 1 to ", ZSTD_maxCLevel(),
                                                     " or a negative fast level, not ", level));
    }
    size_t code = ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, level);
    // A frame checksum lets every reader detect corruption at the end of a
    // file, for a cost far below the compression itself.
    if (!ZSTD_isError(code)) code = ZSTD_CCtx_setParameter(context_, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(code)) {
      return absl::InternalError(absl::StrCat("zstd setup failed: ", ZSTD_getErrorName(code)));
    }
    return absl::OkStatus();
  }

  absl::Status Write(absl::string_view input, ByteSink sink) override {
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{output_.data(), output_.size(), 0};
      size_t code = ZSTD_compressStream2(context_, &out, &in, ZSTD_e_continue);
      if (ZSTD_isError(code)) {
        return absl::InternalError(
            absl::StrCat("zstd compression failed: ", ZSTD_getErrorName(code)));
      }
      if (out.pos > 0) {
        absl::Status sunk = sink(absl::string_view(output_.data(), out.pos));
        if (!sunk.ok()) return sunk;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Finish(ByteSink sink) override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    size_t remaining;
    do {
      ZSTD_outBuffer out{output_.data(), output_.size(), 0};
      remaining = ZSTD_compressStream2(context_, &out, &in, ZSTD_e_end);
      if (ZSTD_isError(remaining)) {
        return absl::InternalError(
            absl::StrCat("zstd compression failed: ", ZSTD_getErrorName(remaining)));
      }
      if (out.pos > 0) {
        absl::Status sunk = sink(absl::string_view(output_.data(), out.pos));
        if (!sunk.ok()) return sunk;
      }
    } while (remaining != 0);
    return absl::OkStatus();
  }

 private:
  ZSTD_CCtx* context_;
  std::string output_;
};

class GzipCompressor final : public Compressor {
 public:
  GzipCompressor() : output_(kOutputChunk, '\0') { std::memset(&stream_, 0, sizeof(stream_)); }
  ~GzipCompressor() override {
    if (initialized_) deflateEnd(&stream_);
  }

  absl::Status Init(int level) {
    if (level < 1 || level > 9) {
      return absl::InvalidArgumentError(absl::StrCat("gzip level must be 1 to 9, not ", level));
    }
    // windowBits 15 + 16 asks zlib for a gzip header and trailer.
    if (deflateInit2(&stream_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return absl::ResourceExhaustedError("cannot initialize zlib's deflate");
    }
    initialized_ = true;
    return absl::OkStatus();
  }

  absl::Status Write(absl::string_view input, ByteSink sink) override {
    while (!input.empty()) {
      size_t piece = std::min(input.size(), kMaxZlibInput);
      absl::Status status = Deflate(input.substr(0, piece), Z_NO_FLUSH, sink);
      if (!status.ok()) return status;
      input.remove_prefix(piece);
    }
    return absl::OkStatus();
  }

  absl::Status Finish(ByteSink sink) override {
    absl::Status status = Deflate(absl::string_view(), Z_FINISH, sink);
    if (!status.ok()) return status;
    deflateReset(&stream_);
    return absl::OkStatus();
  }

 private:
  absl::Status Deflate(absl::string_view input, int flush, ByteSink sink) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = static_cast<uInt>(input.size());
    while (true) {
      stream_.next_out = reinterpret_cast<Bytef*>(output_.data());
      stream_.avail_out = static_cast<uInt>(output_.size());
      int code = deflate(&stream_, flush);
      if (code == Z_STREAM_ERROR) return absl::InternalError("zlib deflate failed");
      size_t produced = output_.size() - stream_.avail_out;
      if (produced > 0) {
        absl::Status sunk = sink(absl::string_view(output_.data(), produced));
        if (!sunk.ok()) return sunk;
      }
      if (flush == Z_FINISH ? code == Z_STREAM_END
                            : stream_.avail_in == 0 && stream_.avail_out != 0) {
        return absl::OkStatus();
      }
    }
  }

  z_stream stream_;
  bool initialized_ = false;
  std::string output_;
};

class NoDecompressor final : public Decompressor {
 public:
  absl::Status Write(absl::string_view input, ByteSink sink) override {
    while (!input.empty()) {
      size_t piece = std::min(input.size(), kOutputChunk);
      absl::Status sunk = sink(input.substr(0, piece));
      if (!sunk.ok()) return sunk;
      input.remove_prefix(piece);
    }
    return absl::OkStatus();
  }
  absl::Status Finish() override { return absl::OkStatus(); }
};

class ZstdDecompressor final : public Decompressor {
 public:
  ZstdDecompressor() : context_(ZSTD_createDCtx()), output_(kOutputChunk, '\0') {}
  ~ZstdDecompressor() override { ZSTD_freeDCtx(context_); }

  absl::Status Init() {
    if (context_ == nullptr) return absl::ResourceExhaustedError("cannot allocate a zstd context");
    return absl::OkStatus();
  }

  absl::Status Write(absl::string_view input, ByteSink sink) override {
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    bool output_full = false;
    while (in.pos < in.size || output_full) {
      ZSTD_outBuffer out{output_.data(), output_.size(), 0};
      size_t before = in.pos;
      size_t hint = ZSTD_decompressStream(context_, &out, &in);
      if (ZSTD_isError(hint)) return ZstdError("corrupt zstd stream", hint, consumed_ + before);
      output_full = out.pos == out.size;
      if (hint == 0) {  // A frame ended and is fully flushed.
        ++frames_;
        mid_frame_ = false;
        output_full = false;
      } else if (in.pos > before || out.pos > 0) {
        mid_frame_ = true;
      }
      if (out.pos > 0) {
        absl::Status sunk = sink(absl::string_view(output_.data(), out.pos));
        if (!sunk.ok()) return sunk;
      }
    }
    consumed_ += input.size();
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    if (mid_frame_ || frames_ == 0) {
      return absl::DataLossError(absl::StrCat("zstd stream is truncated: it ends after ", consumed_,
                                              " compressed bytes without completing a frame"));
    }
    return absl::OkStatus();
  }

 private:
  ZSTD_DCtx* context_;
  std::string output_;
  uint64_t consumed_ = 0;
  uint64_t frames_ = 0;
  bool mid_frame_ = false;
};

class GzipDecompressor final : public Decompressor {
 public:
  GzipDecompressor() : output_(kOutputChunk, '\0') { std::memset(&stream_, 0, sizeof(stream_)); }
  ~GzipDecompressor() override {
    if (initialized_) inflateEnd(&stream_);
  }

  absl::Status Init() {
    // windowBits 15 + 16 accepts exactly the gzip format.
    if (inflateInit2(&stream_, 15 + 16) != Z_OK) {
      return absl::ResourceExhaustedError("cannot initialize zlib's inflate");
    }
    initialized_ = true;
    return absl::OkStatus();
  }

  absl::Status Write(absl::string_view input, ByteSink sink) override {
    while (!input.empty()) {
      size_t piece = std::min(input.size(), kMaxZlibInput);
      absl::Status status = Inflate(input.substr(0, piece), sink);
      if (!status.ok()) return status;
      input.remove_prefix(piece);
    }
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    if (mid_member_ || members_ == 0) {
      return absl::DataLossError(absl::StrCat("gzip stream is truncated: it ends after ", consumed_,
                                              " compressed bytes without completing a member"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Inflate(absl::string_view input, ByteSink sink) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = static_cast<uInt>(input.size());
    bool output_full = false;
    while (stream_.avail_in > 0 || output_full) {
      if (!mid_member_) {
        if (stream_.avail_in == 0) break;
        if (members_ > 0) inflateReset(&stream_);  // The next member follows.
        mid_member_ = true;
      }
      uInt available_before = stream_.avail_in;
      stream_.next_out = reinterpret_cast<Bytef*>(output_.data());
      stream_.avail_out = static_cast<uInt>(output_.size());
      int code = inflate(&stream_, Z_NO_FLUSH);
      uint64_t offset = consumed_ + (input.size() - available_before);
      consumed_ += available_before - stream_.avail_in;
      if (code == Z_DATA_ERROR || code == Z_NEED_DICT || code == Z_STREAM_ERROR ||
          code == Z_MEM_ERROR) {
        return absl::DataLossError(
            absl::StrCat("corrupt gzip stream near compressed byte offset ", offset, ": ",
                         stream_.msg != nullptr ? stream_.msg : "inflate failed"));
      }
      size_t produced = output_.size() - stream_.avail_out;
      output_full = stream_.avail_out == 0;
      if (code == Z_STREAM_END) {
        mid_member_ = false;
        ++members_;
      }
      if (produced > 0) {
        absl::Status sunk = sink(absl::string_view(output_.data(), produced));
        if (!sunk.ok()) return sunk;
      }
      if (code == Z_BUF_ERROR && !output_full) break;  // Needs more input.
    }
    return absl::OkStatus();
  }

  z_stream stream_;
  bool initialized_ = false;
  std::string output_;
  uint64_t consumed_ = 0;
  uint64_t members_ = 0;
  bool mid_member_ = false;
};

}  // namespace

absl::string_view CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

absl::StatusOr<Compression> ParseCompression(absl::string_view name) {
  for (Compression compression : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    if (name == CompressionName(compression)) return compression;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown compression \"", name, "\": expected zstd, gzip or none"));
}

absl::string_view CompressionSuffix(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return "";
    case Compression::kGzip:
      return ".gz";
    case Compression::kZstd:
      return ".zst";
  }
  return "";
}

absl::StatusOr<std::unique_ptr<Compressor>> Compressor::Create(Compression compression, int level) {
  switch (compression) {
    case Compression::kNone:
      return std::unique_ptr<Compressor>(new NoCompressor());
    case Compression::kGzip: {
      auto compressor = std::make_unique<GzipCompressor>();
      absl::Status status = compressor->Init(level);
      if (!status.ok()) return status;
      return std::unique_ptr<Compressor>(std::move(compressor));
    }
    case Compression::kZstd: {
      auto compressor = std::make_unique<ZstdCompressor>();
      absl::Status status = compressor->Init(level);
      if (!status.ok()) return status;
      return std::unique_ptr<Compressor>(std::move(compressor));
    }
  }
  return absl::InvalidArgumentError("unknown compression");
}

absl::StatusOr<std::unique_ptr<Decompressor>> Decompressor::Create(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return std::unique_ptr<Decompressor>(new NoDecompressor());
    case Compression::kGzip: {
      auto decompressor = std::make_unique<GzipDecompressor>();
      absl::Status status = decompressor->Init();
      if (!status.ok()) return status;
      return std::unique_ptr<Decompressor>(std::move(decompressor));
    }
    case Compression::kZstd: {
      auto decompressor = std::make_unique<ZstdDecompressor>();
      absl::Status status = decompressor->Init();
      if (!status.ok()) return status;
      return std::unique_ptr<Decompressor>(std::move(decompressor));
    }
  }
  return absl::InvalidArgumentError("unknown compression");
}

absl::Status DecompressFile(const std::string& path, Compression compression, ByteSink sink) {
  absl::StatusOr<std::unique_ptr<Decompressor>> decompressor = Decompressor::Create(compression);
  if (!decompressor.ok()) return decompressor.status();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  // Errors from the sink pass through unchanged; errors of our own name the file.
  absl::Status sink_error;
  auto guarded_sink = [&](absl::string_view bytes) {
    sink_error = sink(bytes);
    return sink_error;
  };
  std::string buffer(1 << 20, '\0');
  absl::Status status;
  while (status.ok()) {
    ssize_t got = read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      status = absl::InternalError(absl::StrCat("reading ", path, ": ", std::strerror(errno)));
      break;
    }
    if (got == 0) {
      status = (*decompressor)->Finish();
      break;
    }
    status = (*decompressor)->Write(absl::string_view(buffer.data(), got), guarded_sink);
  }
  close(fd);
  if (status.ok() || !sink_error.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

}  // namespace re_dms

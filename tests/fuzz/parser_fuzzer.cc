// The test_decoding Parser on arbitrary bytes, fed whole and split at points
// the fuzzer picks: the chunking must never change the records read nor the
// error (up to its excerpt, which shows whatever happened to be buffered).
//
// Input: one byte n (0..7 split points), then n two-byte split offsets taken
// modulo the stream's size, then the stream.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re_dms/parser.h"
#include "tests/fuzz/fuzz_input.h"

namespace re_dms {
namespace {

std::string DescribeTuple(const std::vector<Column>& columns) {
  std::string out;
  for (const Column& column : columns) {
    absl::StrAppend(&out, " <", column.name, ">[", column.type, "]", static_cast<int>(column.kind),
                    "<", column.text, ">");
  }
  return out;
}

// Everything a Record says: equal strings mean equal records.
std::string Describe(const Record& record) {
  std::string out = absl::StrCat(static_cast<int>(record.kind),
                                 " xid=", record.xid.has_value() ? absl::StrCat(*record.xid) : "-",
                                 " at=<", record.commit_time, "> ");
  absl::StrAppend(&out, "<", record.table.schema, ">.<", record.table.name,
                  "> old=", record.has_old_key, DescribeTuple(record.old_key), " new",
                  DescribeTuple(record.columns), " no-tuple=", record.no_tuple_data, " trunc");
  for (const TableRef& table : record.truncated) {
    absl::StrAppend(&out, " <", table.schema, ">.<", table.name, ">");
  }
  absl::StrAppend(&out, " ", record.restart_seqs, record.cascade, " tx=", record.transactional,
                  " prefix=<", record.prefix, "> content=<", record.content, "> raw=<", record.raw,
                  "> @", record.offset, ":", record.line);
  return out;
}

struct Outcome {
  std::vector<std::string> records;
  std::string error;  // Without the excerpt.
};

Outcome ParseChunks(const std::vector<absl::string_view>& chunks) {
  Parser parser;
  Record record;
  Outcome outcome;
  absl::Status status;
  for (absl::string_view chunk : chunks) {
    parser.Feed(chunk);
    for (;;) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) {
        status = got.status();
        break;
      }
      if (!*got) break;
      outcome.records.push_back(Describe(record));
    }
    if (!status.ok()) break;
  }
  if (status.ok()) status = parser.Finish();
  if (!status.ok()) {
    // An error is sticky: asking again must repeat it.
    if (parser.Finish() != status) fuzz::Fail("Finish() after an error changed the error");
    outcome.error = status.ToString();
    outcome.error = outcome.error.substr(0, outcome.error.find(": near "));
  }
  return outcome;
}

}  // namespace
}  // namespace re_dms

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using re_dms::fuzz::Fail;
  re_dms::fuzz::FuzzInput input(data, size);
  const size_t splits = input.Below(8);
  std::vector<size_t> raw_offsets;
  for (size_t i = 0; i < splits; ++i)
    raw_offsets.push_back(input.Below(256) * 256 + input.Below(256));
  const absl::string_view stream = input.Rest();
  std::vector<size_t> offsets;
  for (size_t offset : raw_offsets)
    offsets.push_back(stream.empty() ? 0 : offset % (stream.size() + 1));
  std::sort(offsets.begin(), offsets.end());

  const re_dms::Outcome whole = re_dms::ParseChunks({stream});
  std::vector<absl::string_view> chunks;
  size_t from = 0;
  for (size_t offset : offsets) {
    chunks.push_back(stream.substr(from, offset - from));
    from = offset;
  }
  chunks.push_back(stream.substr(from));
  const re_dms::Outcome split = re_dms::ParseChunks(chunks);
  if (split.records != whole.records) {
    Fail(absl::StrCat("records differ when split: ", whole.records.size(), " whole vs ",
                      split.records.size(), " split"));
  }
  if (split.error != whole.error) {
    Fail(absl::StrCat("errors differ when split:\n  whole: ", whole.error,
                      "\n  split: ", split.error));
  }
  return 0;
}

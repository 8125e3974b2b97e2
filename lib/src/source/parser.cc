#include "re_dms/parser.h"

#include <cstring>
#include <deque>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"

namespace re_dms {

// Rows of one table print the same ` name[type]:` header before each value;
// comparing against the previous row's headers replaces scanning them. A
// deque, so entries never move while views point into them.
// How print_literal() in test_decoding.c prints a value of a type: only a
// few built-in types bare, every other type (arrays and domains of those
// too: print_literal() switches on the exact type OID) quoted.
enum class ValueSyntax : uint8_t {
  kQuoted,
  kInteger,  // smallint, integer, bigint: int[248]out.
  kOid,      // oidout: unsigned.
  kFloat,    // real, double precision, numeric; NaN and ±Infinity too.
  kBoolean,  // `true` or `false`, not boolout's t/f.
  kBits,     // bit, bit varying: B'0101'.
};

class ColumnHeaderCache {
 public:
  struct Entry {
    std::string raw;  // `name[type]:` as printed.
    size_t name_begin = 0;
    size_t name_size = 0;
    size_t type_begin = 0;
    size_t type_size = 0;
    ValueSyntax syntax = ValueSyntax::kQuoted;
    // Set when the name had "" undoubled: then `name` holds it.
    bool name_undoubled = false;
    std::string name;
  };

  Entry* At(size_t position) {
    while (entries_.size() <= position) entries_.emplace_back();
    return &entries_[position];
  }

 private:
  std::deque<Entry> entries_;
};

namespace {

// The outcome of scanning part of a record: done, the buffered bytes end
// before the part does, or the bytes cannot be test_decoding output.
enum class Scan { kOk, kMore, kBad };

#define RE_DMS_SCAN_OR_RETURN(expr) \
  do {                              \
    Scan scan_result = (expr);      \
    if (scan_result != Scan::kOk) { \
      return scan_result;           \
    }                               \
  } while (0)

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// format_type_be() names the built-in types print_literal() prints bare; a
// user type of the same name is schema-qualified or quoted, so it never
// prints as one of these.
ValueSyntax SyntaxOf(absl::string_view type) {
  switch (type.size()) {
    case 3:
      if (type == "oid") return ValueSyntax::kOid;
      if (type == "bit") return ValueSyntax::kBits;
      break;
    case 4:
      if (type == "real") return ValueSyntax::kFloat;
      break;
    case 6:
      if (type == "bigint") return ValueSyntax::kInteger;
      break;
    case 7:
      if (type == "integer") return ValueSyntax::kInteger;
      if (type == "numeric") return ValueSyntax::kFloat;
      if (type == "boolean") return ValueSyntax::kBoolean;
      break;
    case 8:
      if (type == "smallint") return ValueSyntax::kInteger;
      break;
    case 11:
      if (type == "bit varying") return ValueSyntax::kBits;
      break;
    case 16:
      if (type == "double precision") return ValueSyntax::kFloat;
      break;
  }
  return ValueSyntax::kQuoted;
}

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// Whether `bare` is what the output function of a type of `syntax` prints.
// Loose where the exact grammar buys nothing (float exponents), strict enough
// that a word, a quote or a misplaced byte stops the stream.
bool IsBareValueOf(ValueSyntax syntax, absl::string_view bare) {
  switch (syntax) {
    case ValueSyntax::kQuoted:
      return false;
    case ValueSyntax::kInteger:
      if (bare[0] == '-') bare.remove_prefix(1);
      return AllDigits(bare);
    case ValueSyntax::kOid:
      return AllDigits(bare);
    case ValueSyntax::kFloat: {
      if (bare == "NaN" || bare == "Infinity" || bare == "-Infinity") return true;
      if (bare[0] == '-') bare.remove_prefix(1);
      if (bare.empty() || !IsDigit(bare[0])) return false;
      for (char c : bare) {
        if (!IsDigit(c) && c != '.' && c != 'e' && c != '+' && c != '-') return false;
      }
      return true;
    }
    case ValueSyntax::kBoolean:
      return bare == "true" || bare == "false";
    case ValueSyntax::kBits:
      if (bare.size() < 3 || bare[0] != 'B' || bare[1] != '\'' || bare.back() != '\'') {
        return false;
      }
      for (char c : bare.substr(2, bare.size() - 3)) {
        if (c != '0' && c != '1') return false;
      }
      return true;
  }
  return false;
}

absl::string_view DescribeSyntax(ValueSyntax syntax) {
  switch (syntax) {
    case ValueSyntax::kQuoted:
      return "a quoted literal";
    case ValueSyntax::kInteger:
      return "an integer";
    case ValueSyntax::kOid:
      return "an unsigned integer";
    case ValueSyntax::kFloat:
      return "a number";
    case ValueSyntax::kBoolean:
      return "true or false";
    case ValueSyntax::kBits:
      return "a bit string B'...'";
  }
  return "";
}

// The bytes that end a bare (unquoted) identifier: the delimiters around
// names in test_decoding's output, and quotes, which quote_identifier() never
// leaves in a bare name.
constexpr struct ByteSet {
  constexpr explicit ByteSet(absl::string_view members) : contains() {
    for (char c : members) contains[static_cast<unsigned char>(c)] = true;
  }
  constexpr bool operator[](unsigned char c) const { return contains[c]; }
  bool contains[256];
} kEndsBareIdentifier(".,:[ \n\"'");

// Escapes bytes so that an excerpt of arbitrary input reads as one line of
// ASCII in an error message.
std::string Excerpt(const char* begin, const char* end, const char* at) {
  constexpr ptrdiff_t kBefore = 24;
  constexpr ptrdiff_t kAfter = 48;
  const char* from = at - begin > kBefore ? at - kBefore : begin;
  const char* to = end - at > kAfter ? at + kAfter : end;
  std::string out = "\"";
  for (const char* c = from; c < to; ++c) {
    if (c == at) out += "<HERE>";
    unsigned char byte = static_cast<unsigned char>(*c);
    switch (byte) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (byte < 0x20 || byte >= 0x7f) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xf];
        } else {
          out += static_cast<char>(byte);
        }
    }
  }
  if (at >= to) out += "<HERE>";
  out += "\"";
  return out;
}

uint64_t CountNewlines(const char* begin, const char* end) {
  uint64_t count = 0;
  while (begin < end) {
    const void* found = std::memchr(begin, '\n', end - begin);
    if (found == nullptr) break;
    ++count;
    begin = static_cast<const char*>(found) + 1;
  }
  return count;
}

// Undoes a doubling quote convention: every `quote quote` in `quoted` becomes
// one `quote`.
void Undouble(absl::string_view quoted, char quote, std::string* out) {
  out->reserve(quoted.size());
  for (size_t i = 0; i < quoted.size(); ++i) {
    out->push_back(quoted[i]);
    if (quoted[i] == quote) ++i;
  }
}

// Scans one record of the bytes [begin, end) into a Record. The grammar is
// test_decoding.c's output functions read backwards; see
// notes/test_decoding_format.md. Every step first checks that the bytes it
// needs are buffered, so a record cut anywhere yields kMore, never kBad.
class RecordScanner {
 public:
  RecordScanner(const char* begin, const char* end, Record* record, ColumnHeaderCache* headers)
      : begin_(begin), end_(end), p_(begin), record_(record), headers_(headers) {}

  // On kOk, record_end() is the byte after the record's terminating '\n'.
  Scan Run() {
    struct Start {
      absl::string_view keyword;
      Scan (RecordScanner::*scan)();
    };
    static constexpr Start kStarts[] = {
        {"BEGIN", &RecordScanner::ScanBegin},
        {"COMMIT", &RecordScanner::ScanCommit},
        {"table ", &RecordScanner::ScanTable},
        {"message: ", &RecordScanner::ScanMessage},
    };
    for (const Start& start : kStarts) {
      switch (Peek(start.keyword)) {
        case Match::kYes:
          return (this->*start.scan)();
        case Match::kMore:
          return Scan::kMore;
        case Match::kNo:
          break;
      }
    }
    return ScanPhrase();  // Two-phase, streaming, or unknown.
  }

  const char* record_end() const { return p_; }
  const char* error_at() const { return error_at_; }
  const std::string& error() const { return error_; }

 private:
  enum class Match { kYes, kNo, kMore };

  Scan Fail(const char* at, std::string what) {
    error_at_ = at;
    error_ = std::move(what);
    return Scan::kBad;
  }

  // Whether the input at p_ starts with `text`; kMore when the buffered bytes
  // are a proper prefix of it.
  // The texts are a few bytes long: a plain loop beats a call to memcmp.
  Match Peek(absl::string_view text) const {
    size_t available = static_cast<size_t>(end_ - p_);
    size_t n = available < text.size() ? available : text.size();
    for (size_t i = 0; i < n; ++i) {
      if (p_[i] != text[i]) return Match::kNo;
    }
    return n == text.size() ? Match::kYes : Match::kMore;
  }

  Scan Expect(absl::string_view text) {
    switch (Peek(text)) {
      case Match::kYes:
        p_ += text.size();
        return Scan::kOk;
      case Match::kMore:
        return Scan::kMore;
      case Match::kNo:
        break;
    }
    return Fail(p_, absl::StrCat("expected \"", text, "\""));
  }

  // Consumes `text` if it is next; *matched tells which.
  Scan Accept(absl::string_view text, bool* matched) {
    Match match = Peek(text);
    if (match == Match::kMore) return Scan::kMore;
    *matched = match == Match::kYes;
    if (*matched) p_ += text.size();
    return Scan::kOk;
  }

  Scan ExpectEnd() {
    if (p_ == end_) return Scan::kMore;
    if (*p_ != '\n') return Fail(p_, "expected the end of the record");
    ++p_;
    return Scan::kOk;
  }

  template <typename Int>
  Scan ScanNumber(Int* out) {
    const char* start = p_;
    uint64_t value = 0;
    while (p_ < end_ && IsDigit(*p_)) {
      value = value * 10 + static_cast<uint64_t>(*p_ - '0');
      if (value > std::numeric_limits<Int>::max()) return Fail(start, "number out of range");
      ++p_;
    }
    if (p_ == end_) return Scan::kMore;
    if (p_ == start) return Fail(p_, "expected a number");
    *out = static_cast<Int>(value);
    return Scan::kOk;
  }

  Scan ScanXid() {
    uint32_t xid = 0;
    RE_DMS_SCAN_OR_RETURN(ScanNumber(&xid));
    record_->xid = xid;
    return Scan::kOk;
  }

  // ` (at <timestamptz>)`, p_ just past `(at `. The timestamp never holds a
  // ')' or a newline.
  Scan ScanTimestampBody() {
    const char* limit = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    const char* search_end = limit != nullptr ? limit : end_;
    const char* close = static_cast<const char*>(std::memchr(p_, ')', search_end - p_));
    if (close == nullptr) {
      return limit != nullptr ? Fail(p_, "unterminated \"(at\" timestamp") : Scan::kMore;
    }
    record_->commit_time = absl::string_view(p_, close - p_);
    p_ = close + 1;
    return Scan::kOk;
  }

  // A '-quoted literal with ' doubled, p_ at the opening quote. On kOk p_ is
  // past the closing quote and *has_doubled says whether undoubling is needed.
  Scan ScanQuoted(char quote, absl::string_view* body, bool* has_doubled) {
    const char* open = p_;
    const char* s = p_ + 1;
    *has_doubled = false;
    for (;;) {
      const char* q = static_cast<const char*>(std::memchr(s, quote, end_ - s));
      if (q == nullptr || q + 1 == end_) return Scan::kMore;
      if (q[1] == quote) {
        *has_doubled = true;
        s = q + 2;
        continue;
      }
      *body = absl::string_view(open + 1, q - open - 1);
      p_ = q + 1;
      return Scan::kOk;
    }
  }

  // Stores the undoubled form of `body` in the record when needed.
  absl::string_view Unquote(absl::string_view body, bool has_doubled, char quote) {
    if (!has_doubled) return body;
    record_->owned.emplace_back();
    Undouble(body, quote, &record_->owned.back());
    return record_->owned.back();
  }

  // An identifier as quote_identifier() prints it: bare, or in double quotes
  // with " doubled. A bare identifier never holds these bytes.
  Scan ScanIdentifier(absl::string_view* out) {
    if (p_ == end_) return Scan::kMore;
    if (*p_ == '"') {
      absl::string_view body;
      bool has_doubled;
      RE_DMS_SCAN_OR_RETURN(ScanQuoted('"', &body, &has_doubled));
      *out = Unquote(body, has_doubled, '"');
      return Scan::kOk;
    }
    const char* start = p_;
    while (p_ < end_ && !kEndsBareIdentifier[static_cast<unsigned char>(*p_)]) ++p_;
    if (p_ == end_) return Scan::kMore;
    if (p_ == start) return Fail(p_, "expected an identifier");
    *out = absl::string_view(start, p_ - start);
    return Scan::kOk;
  }

  Scan ScanBegin() {
    record_->kind = RecordKind::kBegin;
    RE_DMS_SCAN_OR_RETURN(Expect("BEGIN"));
    bool space;
    RE_DMS_SCAN_OR_RETURN(Accept(" ", &space));
    if (space) RE_DMS_SCAN_OR_RETURN(ScanXid());
    return ExpectEnd();
  }

  Scan ScanCommit() {
    Match prepared = Peek("COMMIT PREPARED");
    if (prepared == Match::kMore) return Scan::kMore;
    if (prepared == Match::kYes) return ScanPhrase();
    record_->kind = RecordKind::kCommit;
    RE_DMS_SCAN_OR_RETURN(Expect("COMMIT"));
    bool at;
    RE_DMS_SCAN_OR_RETURN(Accept(" (at ", &at));
    if (!at) {
      bool space;
      RE_DMS_SCAN_OR_RETURN(Accept(" ", &space));
      if (space) {
        RE_DMS_SCAN_OR_RETURN(ScanXid());
        RE_DMS_SCAN_OR_RETURN(Accept(" (at ", &at));
      }
    }
    if (at) RE_DMS_SCAN_OR_RETURN(ScanTimestampBody());
    return ExpectEnd();
  }

  // Two-phase and streaming lines: a fixed phrase, then a tail of optional
  // parts in the order the plugin prints them.
  Scan ScanPhrase() {
    struct Phrase {
      absl::string_view text;
      RecordKind kind;
    };
    static constexpr Phrase kPhrases[] = {
        {"PREPARE TRANSACTION", RecordKind::kTwoPhase},
        {"COMMIT PREPARED", RecordKind::kTwoPhase},
        {"ROLLBACK PREPARED", RecordKind::kTwoPhase},
        {"opening a streamed block for transaction", RecordKind::kStream},
        {"closing a streamed block for transaction", RecordKind::kStream},
        {"streaming change for", RecordKind::kStream},
        {"streaming truncate for", RecordKind::kStream},
        {"aborting streamed (sub)transaction", RecordKind::kStream},
        {"committing streamed transaction", RecordKind::kStream},
        {"preparing streamed transaction", RecordKind::kStream},
    };
    Match stream_message = Peek("streaming message: ");
    if (stream_message == Match::kMore) return Scan::kMore;
    if (stream_message == Match::kYes) return ScanStreamMessage();
    const Phrase* found = nullptr;
    for (const Phrase& phrase : kPhrases) {
      Match match = Peek(phrase.text);
      if (match == Match::kMore) return Scan::kMore;
      if (match == Match::kYes) {
        found = &phrase;
        break;
      }
    }
    if (found == nullptr) return Fail(p_, "unknown record");
    record_->kind = found->kind;
    p_ += found->text.size();
    return ScanPhraseTail();
  }

  // ` TXN[ <xid>]`, ` transaction`, ` '<gid>'` or ` E'<gid>'`, `, txid <xid>`,
  // ` (at <timestamptz>)`, then the end of the record.
  Scan ScanPhraseTail() {
    const char* start = record_start();
    for (;;) {
      if (p_ == end_) return Scan::kMore;
      if (*p_ == '\n') {
        record_->raw = absl::string_view(start, p_ - start);
        ++p_;
        return Scan::kOk;
      }
      bool matched;
      RE_DMS_SCAN_OR_RETURN(Accept(" TXN", &matched));
      if (matched) {
        if (end_ - p_ < 2) return Scan::kMore;
        if (p_[0] == ' ' && IsDigit(p_[1])) {
          ++p_;
          RE_DMS_SCAN_OR_RETURN(ScanXid());
        }
        continue;
      }
      RE_DMS_SCAN_OR_RETURN(Accept(", txid ", &matched));
      if (matched) {
        RE_DMS_SCAN_OR_RETURN(ScanXid());
        continue;
      }
      RE_DMS_SCAN_OR_RETURN(Accept(" (at ", &matched));
      if (matched) {
        RE_DMS_SCAN_OR_RETURN(ScanTimestampBody());
        continue;
      }
      RE_DMS_SCAN_OR_RETURN(Accept(" transaction", &matched));
      if (matched) continue;
      // The GID, as quote_literal_cstr() prints it: E'' when it holds a
      // backslash, which is then doubled; ' always doubled.
      RE_DMS_SCAN_OR_RETURN(Accept(" ", &matched));
      if (matched) {
        bool escape_string;
        RE_DMS_SCAN_OR_RETURN(Accept("E", &escape_string));
        if (p_ == end_) return Scan::kMore;
        if (*p_ == '\'') {
          absl::string_view gid;
          bool has_doubled;
          RE_DMS_SCAN_OR_RETURN(ScanQuoted('\'', &gid, &has_doubled));
          continue;
        }
      }
      return Fail(p_, "unexpected text in a two-phase or streaming record");
    }
  }

  // `message: transactional: <0|1> prefix: <prefix>, sz: <n> content:<n bytes>`
  // (`streaming message: ...` for kStream, whose transactional form ends after
  // `sz: <n>`). The prefix is printed raw, so it may itself hold `, sz: `: the
  // first candidate whose size, content and record end are consistent wins.
  Scan ScanMessage() { return ScanMessageOf(RecordKind::kMessage); }
  Scan ScanStreamMessage() { return ScanMessageOf(RecordKind::kStream); }

  Scan ScanMessageOf(RecordKind kind) {
    record_->kind = kind;
    const char* start = p_;
    RE_DMS_SCAN_OR_RETURN(
        Expect(kind == RecordKind::kStream ? "streaming message: " : "message: "));
    RE_DMS_SCAN_OR_RETURN(Expect("transactional: "));
    if (p_ == end_) return Scan::kMore;
    if (*p_ != '0' && *p_ != '1') return Fail(p_, "expected 0 or 1 after \"transactional: \"");
    record_->transactional = *p_ == '1';
    ++p_;
    RE_DMS_SCAN_OR_RETURN(Expect(" prefix: "));
    const char* prefix = p_;
    static constexpr absl::string_view kSize = ", sz: ";
    static constexpr absl::string_view kContent = " content:";
    for (const char* search = prefix;;) {
      const char* candidate =
          static_cast<const char*>(memmem(search, end_ - search, kSize.data(), kSize.size()));
      if (candidate == nullptr) return Scan::kMore;
      search = candidate + 1;
      p_ = candidate + kSize.size();
      uint64_t size = 0;
      Scan number = ScanNumber(&size);
      if (number == Scan::kMore) return Scan::kMore;
      if (number == Scan::kBad) continue;
      Match content = Peek(kContent);
      if (content == Match::kMore) return Scan::kMore;
      if (content == Match::kNo) {
        if (kind != RecordKind::kStream || *p_ != '\n') continue;
        record_->prefix = absl::string_view(prefix, candidate - prefix);
        record_->raw = absl::string_view(start, p_ - start);
        ++p_;
        return Scan::kOk;
      }
      const char* body = p_ + kContent.size();
      if (static_cast<uint64_t>(end_ - body) <= size) return Scan::kMore;
      if (body[size] != '\n') continue;
      record_->prefix = absl::string_view(prefix, candidate - prefix);
      record_->content = absl::string_view(body, size);
      if (kind == RecordKind::kStream) record_->raw = absl::string_view(start, body + size - start);
      p_ = body + size + 1;
      return Scan::kOk;
    }
  }

  // `table <qualified>[, <qualified>...]: <KIND>:<body>`.
  Scan ScanTable() {
    RE_DMS_SCAN_OR_RETURN(Expect("table "));
    std::vector<TableRef>& tables = record_->truncated;
    for (;;) {
      TableRef& table = tables.emplace_back();
      RE_DMS_SCAN_OR_RETURN(ScanIdentifier(&table.schema));
      RE_DMS_SCAN_OR_RETURN(Expect("."));
      RE_DMS_SCAN_OR_RETURN(ScanIdentifier(&table.name));
      bool more_tables;
      RE_DMS_SCAN_OR_RETURN(Accept(", ", &more_tables));
      if (!more_tables) break;
    }
    RE_DMS_SCAN_OR_RETURN(Expect(": "));
    struct Kind {
      absl::string_view text;
      RecordKind kind;
    };
    static constexpr Kind kKinds[] = {
        {"INSERT:", RecordKind::kInsert},
        {"UPDATE:", RecordKind::kUpdate},
        {"DELETE:", RecordKind::kDelete},
        {"TRUNCATE:", RecordKind::kTruncate},
    };
    const Kind* found = nullptr;
    for (const Kind& kind : kKinds) {
      Match match = Peek(kind.text);
      if (match == Match::kMore) return Scan::kMore;
      if (match == Match::kYes) {
        found = &kind;
        break;
      }
    }
    if (found == nullptr) return Fail(p_, "expected INSERT:, UPDATE:, DELETE: or TRUNCATE:");
    p_ += found->text.size();
    record_->kind = found->kind;
    if (found->kind == RecordKind::kTruncate) return ScanTruncateFlags();
    if (tables.size() != 1) {
      return Fail(p_, absl::StrCat("a row change names ", tables.size(), " tables"));
    }
    record_->table = tables.front();
    tables.clear();
    if (found->kind == RecordKind::kUpdate) {
      RE_DMS_SCAN_OR_RETURN(Accept(" old-key:", &record_->has_old_key));
      if (record_->has_old_key) {
        RE_DMS_SCAN_OR_RETURN(ScanTuple(&record_->old_key, /*in_old_key=*/true));
        RE_DMS_SCAN_OR_RETURN(Expect(" new-tuple:"));
      }
    }
    RE_DMS_SCAN_OR_RETURN(Accept(" (no-tuple-data)", &record_->no_tuple_data));
    if (!record_->no_tuple_data) {
      RE_DMS_SCAN_OR_RETURN(ScanTuple(&record_->columns, /*in_old_key=*/false));
    }
    return ExpectEnd();
  }

  Scan ScanTruncateFlags() {
    bool no_flags;
    RE_DMS_SCAN_OR_RETURN(Accept(" (no-flags)", &no_flags));
    if (!no_flags) {
      RE_DMS_SCAN_OR_RETURN(Accept(" restart_seqs", &record_->restart_seqs));
      RE_DMS_SCAN_OR_RETURN(Accept(" cascade", &record_->cascade));
      if (!record_->restart_seqs && !record_->cascade) {
        return Fail(p_, "expected (no-flags), restart_seqs or cascade");
      }
    }
    return ExpectEnd();
  }

  // Columns ` <name>[<type>]:<value>` up to the end of the record or, in an
  // old-key tuple, up to ` new-tuple:` (which a column cannot look like: a
  // name with '-' is always quoted).
  Scan ScanTuple(std::vector<Column>* columns, bool in_old_key) {
    for (size_t position = 0;; ++position) {
      if (p_ == end_) return Scan::kMore;
      if (*p_ == '\n') return Scan::kOk;
      if (*p_ != ' ') return Fail(p_, "expected a space before the next column");
      if (in_old_key) {
        Match next = Peek(" new-tuple:");
        if (next == Match::kMore) return Scan::kMore;
        if (next == Match::kYes) return Scan::kOk;
      }
      ++p_;
      // Old keys are rare: only the main tuple's headers are worth caching.
      ColumnHeaderCache::Entry* cached = in_old_key ? nullptr : headers_->At(position);
      RE_DMS_SCAN_OR_RETURN(ScanColumn(&columns->emplace_back(), cached));
    }
  }

  Scan ScanColumn(Column* column, ColumnHeaderCache::Entry* cached) {
    ValueSyntax syntax;
    if (cached != nullptr && !cached->raw.empty() &&
        static_cast<size_t>(end_ - p_) >= cached->raw.size() &&
        std::memcmp(p_, cached->raw.data(), cached->raw.size()) == 0) {
      column->name = cached->name_undoubled
                         ? absl::string_view(cached->name)
                         : absl::string_view(p_ + cached->name_begin, cached->name_size);
      column->type = absl::string_view(p_ + cached->type_begin, cached->type_size);
      syntax = cached->syntax;
      p_ += cached->raw.size();
    } else {
      const char* header = p_;
      RE_DMS_SCAN_OR_RETURN(ScanIdentifier(&column->name));
      if (*p_ != '[') return Fail(p_, "expected \"[\" after a column name");
      ++p_;
      RE_DMS_SCAN_OR_RETURN(ScanType(&column->type));
      syntax = SyntaxOf(column->type);
      if (cached != nullptr) Remember(header, *column, syntax, cached);
    }
    RE_DMS_SCAN_OR_RETURN(ScanValue(column, syntax));
    if (p_ == end_) return Scan::kMore;
    if (*p_ != ' ' && *p_ != '\n') {
      return Fail(p_, absl::StrCat("expected a space or the end of the record after the value of "
                                   "column \"",
                                   column->name, "\""));
    }
    return Scan::kOk;
  }

  // Stores the header just scanned, [header, p_), for the next row.
  void Remember(const char* header, const Column& column, ValueSyntax syntax,
                ColumnHeaderCache::Entry* entry) {
    entry->raw.assign(header, p_ - header);
    entry->syntax = syntax;
    entry->name_undoubled = column.name.data() < header || column.name.data() >= p_;
    if (entry->name_undoubled) {
      entry->name.assign(column.name.data(), column.name.size());
    } else {
      entry->name_begin = column.name.data() - header;
      entry->name_size = column.name.size();
    }
    entry->type_begin = column.type.data() - header;
    entry->type_size = column.type.size();
  }

  // format_type_be() text, p_ just past '['. It ends at the ']' followed by
  // ':' outside double quotes (`integer[]`, `"odd]:type"`). Types are short,
  // so a byte loop beats memchr here.
  Scan ScanType(absl::string_view* type) {
    const char* start = p_;
    for (const char* s = p_;; ++s) {
      if (s == end_) return Scan::kMore;
      if (*s == '"') {
        p_ = s;
        absl::string_view ignored;
        bool has_doubled;
        RE_DMS_SCAN_OR_RETURN(ScanQuoted('"', &ignored, &has_doubled));
        s = p_ - 1;
        continue;
      }
      if (*s != ']') continue;
      if (s + 1 == end_) return Scan::kMore;
      if (s[1] == ':') {
        *type = absl::string_view(start, s - start);
        p_ = s + 2;
        return Scan::kOk;
      }
    }
  }

  // print_literal()'s output: 'quoted' with ' doubled, or bare for numbers,
  // booleans and B'bit strings', or `null` / `unchanged-toast-datum` for any
  // type. Each type has exactly one of the two forms: the other means the
  // stream is corrupt or not test_decoding's, and guessing would load wrong
  // values. The text kept is the type output function's: unquoted,
  // undoubled, B'' gone.
  Scan ScanValue(Column* column, ValueSyntax syntax) {
    if (p_ == end_) return Scan::kMore;
    const char* start = p_;
    if (*p_ == '\'') {
      absl::string_view body;
      bool has_doubled;
      RE_DMS_SCAN_OR_RETURN(ScanQuoted('\'', &body, &has_doubled));
      if (syntax != ValueSyntax::kQuoted) {
        return Fail(start, absl::StrCat("quoted value for column \"", column->name, "\" of type ",
                                        column->type, ", which test_decoding prints as ",
                                        DescribeSyntax(syntax)));
      }
      column->kind = ValueKind::kText;
      column->text = Unquote(body, has_doubled, '\'');
      return Scan::kOk;
    }
    while (p_ < end_ && *p_ != ' ' && *p_ != '\n') ++p_;
    if (p_ == end_) return Scan::kMore;
    absl::string_view bare(start, p_ - start);
    if (bare.empty()) {
      return Fail(start, absl::StrCat("empty value for column \"", column->name, "\""));
    }
    if (bare == "null") {
      column->kind = ValueKind::kNull;
    } else if (bare == "unchanged-toast-datum") {
      column->kind = ValueKind::kUnchangedToast;
    } else if (!IsBareValueOf(syntax, bare)) {
      return Fail(start,
                  absl::StrCat("unquoted value for column \"", column->name, "\" of type ",
                               column->type, ": test_decoding prints ", DescribeSyntax(syntax)));
    } else {
      column->kind = ValueKind::kText;
      // bit and varbit print as B'0101'; the value is what is quoted.
      if (syntax == ValueSyntax::kBits) bare = bare.substr(2, bare.size() - 3);
      column->text = bare;
    }
    return Scan::kOk;
  }

  const char* record_start() const { return begin_; }

  const char* const begin_;
  const char* const end_;
  const char* p_;
  Record* const record_;
  ColumnHeaderCache* const headers_;
  const char* error_at_ = nullptr;
  std::string error_;
};

#undef RE_DMS_SCAN_OR_RETURN

constexpr size_t kNotIncomplete = std::numeric_limits<size_t>::max();

}  // namespace

Parser::Parser(ParserOptions options)
    : options_(options),
      base_offset_(options.first_offset),
      line_(options.first_line),
      incomplete_at_size_(kNotIncomplete),
      headers_(std::make_unique<ColumnHeaderCache>()) {}

Parser::~Parser() = default;

void Parser::Compact() {
  buffer_.erase(0, pos_);
  base_offset_ += pos_;
  pos_ = 0;
  last_record_start_ = 0;
  incomplete_at_size_ = kNotIncomplete;
}

void Parser::Feed(absl::string_view bytes) {
  // Dropping the consumed prefix only once it outweighs the rest keeps the
  // copying amortised O(1) per byte however the input is chunked.
  if (pos_ > 0 && pos_ >= buffer_.size() - pos_) Compact();
  buffer_.append(bytes.data(), bytes.size());
}

absl::Status Parser::ScanRecord(Record* record, bool* complete, size_t* record_end) {
  const char* begin = buffer_.data() + pos_;
  const char* end = buffer_.data() + buffer_.size();
  RecordScanner scanner(begin, end, record, headers_.get());
  Scan scan = scanner.Run();
  *complete = scan == Scan::kOk;
  if (scan == Scan::kOk) *record_end = scanner.record_end() - buffer_.data();
  if (scan != Scan::kBad) return absl::OkStatus();
  const char* at = scanner.error_at();
  std::string table;
  const TableRef& named = record->truncated.empty() ? record->table : record->truncated.front();
  if (!named.name.empty()) table = absl::StrCat(", table ", named.schema, ".", named.name);
  return absl::InvalidArgumentError(
      absl::StrCat("test_decoding stream: ", scanner.error(), " at byte offset ",
                   base_offset_ + static_cast<uint64_t>(at - buffer_.data()), ", line ",
                   line_ + CountNewlines(begin, at), table, " (record at byte offset ",
                   base_offset_ + pos_, ", line ", line_, "): near ", Excerpt(begin, end, at)));
}

absl::StatusOr<bool> Parser::Next(Record* record) {
  if (!error_.ok()) return error_;
  if (pos_ == buffer_.size() || incomplete_at_size_ == buffer_.size()) return false;
  record->Clear();
  bool complete = false;
  size_t record_end = 0;
  error_ = ScanRecord(record, &complete, &record_end);
  if (!error_.ok()) return error_;
  if (!complete) {
    incomplete_at_size_ = buffer_.size();
    if (buffer_.size() - pos_ > options_.max_record_bytes) {
      error_ = absl::ResourceExhaustedError(absl::StrCat(
          "test_decoding stream: the record at byte offset ", base_offset_ + pos_, ", line ", line_,
          " exceeds ", options_.max_record_bytes, " bytes without ending: near ",
          Excerpt(buffer_.data() + pos_, buffer_.data() + buffer_.size(), buffer_.data() + pos_)));
      return error_;
    }
    return false;
  }
  record->offset = base_offset_ + pos_;
  record->line = line_;
  line_ += CountNewlines(buffer_.data() + pos_, buffer_.data() + record_end);
  last_record_start_ = pos_;
  pos_ = record_end;
  incomplete_at_size_ = kNotIncomplete;
  return true;
}

absl::Status Parser::Finish() {
  if (!error_.ok()) return error_;
  if (pos_ == buffer_.size()) return absl::OkStatus();
  Record probe;
  bool complete = false;
  size_t record_end = 0;
  error_ = ScanRecord(&probe, &complete, &record_end);
  if (!error_.ok()) return error_;
  if (complete) {
    return absl::FailedPreconditionError(
        "Parser::Finish() called while complete records are unread: call Next() until it "
        "returns false");
  }
  const char* begin = buffer_.data() + pos_;
  error_ = absl::DataLossError(absl::StrCat(
      "test_decoding stream ended inside a record: ", buffer_.size() - pos_,
      " bytes from byte offset ", base_offset_ + pos_, ", line ", line_, " never completed: near ",
      Excerpt(begin, buffer_.data() + buffer_.size(), begin)));
  return error_;
}

}  // namespace re_dms

// The cost of signing one S3 request with SigV4, in µs per request: what the
// signer adds to every PutObject / UploadPart / GetObject.
//
//   bazel build //benchmarks:sigv4_benchmark
//   bazel-bin/benchmarks/sigv4_benchmark
//
// BM_SignHeaders: a typical UploadPart (query, Content-MD5, session token)
//   with the signing key cached (the steady state: one derivation per day).
// BM_SignHeadersColdKey: the same with a new secret each time, so the
//   four-HMAC key derivation is included.
// BM_Presign: a presigned GET URL.
// BM_SignHeadersThreads: the shared signer under concurrency (key cache
//   behind a mutex).

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "re_dms/sigv4.h"

namespace re_dms {
namespace {

SigV4Request UploadPartRequest() {
  SigV4Request request;
  request.method = "PUT";
  request.host = "my-bucket.s3.eu-west-3.amazonaws.com";
  request.path = "/staging/public.orders/000000016B374D48/part-00017.csv.zst";
  request.query = {{"partNumber", "17"},
                   {"uploadId", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"}};
  request.headers = {{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
                     {"Content-Type", "application/octet-stream"}};
  return request;
}

AwsCredentials SessionCredentials() {
  return {"ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", std::string(400, 'T'),
          std::nullopt};
}

SigV4Signer::Options Options() {
  SigV4Signer::Options options;
  options.region = "eu-west-3";
  return options;
}

constexpr absl::string_view kPayloadHash =
    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";

void BM_SignHeaders(benchmark::State& state) {
  static SigV4Signer* signer = new SigV4Signer(Options());
  const SigV4Request request = UploadPartRequest();
  const AwsCredentials credentials = SessionCredentials();
  const absl::Time now = absl::FromUnixSeconds(1780000000);
  for (auto _ : state) {
    auto signature = signer->SignHeaders(request, credentials, now, kPayloadHash);
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignHeaders);
BENCHMARK(BM_SignHeaders)->Threads(2)->Name("BM_SignHeadersThreads/2");

void BM_SignHeadersColdKey(benchmark::State& state) {
  SigV4Signer signer(Options());
  const SigV4Request request = UploadPartRequest();
  AwsCredentials credentials = SessionCredentials();
  const absl::Time now = absl::FromUnixSeconds(1780000000);
  int64_t i = 0;
  for (auto _ : state) {
    credentials.secret_access_key = absl::StrCat("secret", ++i);
    auto signature = signer.SignHeaders(request, credentials, now, kPayloadHash);
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignHeadersColdKey);

void BM_Presign(benchmark::State& state) {
  SigV4Signer signer(Options());
  SigV4Request request = UploadPartRequest();
  request.method = "GET";
  request.query.clear();
  request.headers.clear();
  const AwsCredentials credentials = SessionCredentials();
  const absl::Time now = absl::FromUnixSeconds(1780000000);
  for (auto _ : state) {
    auto url = signer.Presign(request, credentials, now, absl::Hours(1));
    benchmark::DoNotOptimize(url);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Presign);

}  // namespace
}  // namespace re_dms

BENCHMARK_MAIN();

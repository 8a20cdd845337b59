{
  "targets": [
    {
      "target_name": "vxtap",
      "sources": ["src/addon.cc", "src/args.cc", "src/endpoint.cc", "src/endpoint_flows.cc", "src/flows.cc", "src/offload.cc", "src/caps.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}

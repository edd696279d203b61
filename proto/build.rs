//! Compiles `vigil/v1/*.proto` with protox (pure Rust), so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "vigil/v1/ingest.proto",
        "vigil/v1/query.proto",
        "vigil/v1/import.proto",
        "vigil/v1/forecast.proto",
        "vigil/v1/rules.proto",
        "vigil/v1/notify.proto",
        "vigil/v1/admin.proto",
        "vigil/v1/enroll.proto",
        "vigil/v1/incidents.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}

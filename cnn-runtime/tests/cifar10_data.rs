//! CIFAR-10 reading and downloading on small files that the tests write
//! themselves, and a local HTTP server on 127.0.0.1.

use cnn_runtime::data::cifar10::{self, TEST_FILE, TRAIN_FILES};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

/// A fresh folder under the system's temporary folder, removed when the
/// returned guard drops (the callers shadow it with its path, which keeps
/// the guard alive to the end of the test), so that runs leave nothing behind.
fn tempdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("cnn-data-{name}-")).tempdir().unwrap()
}

/// `n` records: label `(first + i) % 10`; red plane all `i`, green 100, blue 200.
fn batch_bytes(n: usize, first: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(((first + i) % 10) as u8);
        out.extend(std::iter::repeat_n(i as u8, 1024));
        out.extend(std::iter::repeat_n(100u8, 1024));
        out.extend(std::iter::repeat_n(200u8, 1024));
    }
    out
}

fn write_batches(dir: &Path, n: usize) {
    for (k, name) in TRAIN_FILES.iter().enumerate() {
        std::fs::write(dir.join(name), batch_bytes(n, k * n)).unwrap();
    }
    std::fs::write(dir.join(TEST_FILE), batch_bytes(n, 0)).unwrap();
}

fn archive_bytes(n: usize) -> Vec<u8> {
    let dir = tempdir(&format!("archive-src-{n}"));
    let dir = dir.path();
    write_batches(dir, n);
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    builder.append_dir_all("cifar-10-batches-bin", dir).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn reads_a_folder_of_batch_files_into_nhwc() {
    let dir = tempdir("folder");
    let dir = dir.path();
    write_batches(dir, 4);
    let data = cifar10::load(dir).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (20, 4));
    assert_eq!(data.train.labels()[..6], [0, 1, 2, 3, 4, 5]);
    // Planes became pixels: (r, g, b) of image 3 is (3, 100, 200) everywhere.
    assert_eq!(&data.train.image(3)[..6], &[3, 100, 200, 3, 100, 200]);
    // The parent folder of cifar-10-batches-bin/ works too.
    let parent = tempdir("parent");
    let parent = parent.path();
    std::fs::create_dir(parent.join("cifar-10-batches-bin")).unwrap();
    write_batches(&parent.join("cifar-10-batches-bin"), 2);
    assert_eq!(cifar10::load(parent).unwrap().test.len(), 2);
}

#[test]
fn a_truncated_or_corrupt_file_is_an_error_naming_it() {
    let dir = tempdir("truncated");
    let dir = dir.path();
    write_batches(dir, 3);
    let mut bytes = std::fs::read(dir.join("data_batch_3.bin")).unwrap();
    bytes.pop();
    std::fs::write(dir.join("data_batch_3.bin"), &bytes).unwrap();
    let err = cifar10::load(dir).unwrap_err().to_string();
    assert!(err.contains("data_batch_3.bin") && err.contains("truncated") && err.contains("3073"), "{err}");

    write_batches(dir, 3);
    let mut bytes = batch_bytes(3, 0);
    bytes[3073] = 10; // record 1's label
    std::fs::write(dir.join(TEST_FILE), &bytes).unwrap();
    let err = cifar10::load(dir).unwrap_err().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("record 1 has label 10"), "{err}");

    std::fs::remove_file(dir.join("data_batch_5.bin")).unwrap();
    let err = cifar10::load_dir(dir).unwrap_err().to_string();
    assert!(err.contains("data_batch_5.bin"), "{err}");

    let empty = tempdir("empty");

    let empty = empty.path();
    let err = cifar10::load(empty).unwrap_err().to_string();
    assert!(err.contains("no CIFAR-10 here"), "{err}");
}

#[test]
fn reads_the_official_archive_layout() {
    let dir = tempdir("tar");
    let dir = dir.path();
    let path = dir.join(cifar10::ARCHIVE);
    std::fs::write(&path, archive_bytes(3)).unwrap();
    let from_archive = cifar10::load(&path).unwrap();
    let folder = tempdir("tar-folder");
    let folder = folder.path();
    write_batches(folder, 3);
    let from_folder = cifar10::load(folder).unwrap();
    assert_eq!(from_archive.train, from_folder.train);
    assert_eq!(from_archive.test, from_folder.test);
    // A folder holding the archive works as --data too.
    assert_eq!(cifar10::load(dir).unwrap().test.len(), 3);

    std::fs::write(&path, b"not a gzip stream at all").unwrap();
    let err = cifar10::load(&path).unwrap_err().to_string();
    assert!(err.contains(cifar10::ARCHIVE) && err.contains(".tar.gz"), "{err}");
}

/// Serves each response once, in order, on 127.0.0.1; returns the base URL.
fn serve(responses: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&response);
        }
    });
    url
}

fn ok(body: &[u8], claimed_len: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {claimed_len}\r\nConnection: close\r\n\r\n").into_bytes();
    r.extend_from_slice(body);
    r
}

/// Whether `curl`, which downloads, is installed; where it is not, the
/// download tests say so and do not run.
fn curl_present() -> bool {
    let present = std::process::Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("skipped: `curl` is not installed, and the download tests need it");
    }
    present
}

fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

#[test]
fn downloads_once_and_verifies_the_md5() {
    use cnn_runtime::data::download::download;
    if !curl_present() {
        return;
    }
    let body = archive_bytes(2);
    let url = serve(vec![ok(&body, body.len())]);
    let dir = tempdir("download");
    let dir = dir.path();
    let dest = dir.join(cifar10::ARCHIVE);
    download(&format!("{url}/cifar-10-binary.tar.gz"), &dest, &md5_hex(&body)).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(cifar10::load(&dest).unwrap().train.len(), 10);
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1, "only the archive is left");
}

#[test]
fn a_failed_download_leaves_nothing_behind() {
    use cnn_runtime::data::download::download;
    if !curl_present() {
        return;
    }
    let body = archive_bytes(2);
    let url = serve(vec![
        ok(&body, body.len()),
        ok(&body[..body.len() / 2], body.len()),
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    ]);
    let dir = tempdir("failed");
    let dir = dir.path();
    let dest = dir.join(cifar10::ARCHIVE);
    let err = download(&url, &dest, "c32a1d4ab5d03f1284b67883e8d87530").unwrap_err().to_string();
    assert!(err.contains("MD5") && err.contains("c32a1d4ab5d03f1284b67883e8d87530") && err.contains(&url), "{err}");
    let err = download(&url, &dest, &md5_hex(&body)).unwrap_err().to_string();
    assert!(err.contains(&url), "{err}");
    let err = download(&url, &dest, &md5_hex(&body)).unwrap_err().to_string();
    assert!(err.contains("404"), "{err}");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0, "no partial file may be left");
}

/// A `width x height` PNG of one colour, `pixel` being its samples.
fn write_png(path: &std::path::Path, (width, height): (u32, u32), colour: png::ColorType, pixel: &[u8]) {
    let mut encoder = png::Encoder::new(std::fs::File::create(path).unwrap(), width, height);
    encoder.set_color(colour);
    let data: Vec<u8> = pixel.iter().copied().cycle().take(pixel.len() * (width * height) as usize).collect();
    encoder.write_header().unwrap().write_image_data(&data).unwrap();
}

#[test]
fn pngs_become_a_batch_and_top_k_ranks_classes() {
    use cnn_runtime::data::png::{load_images, top_k};
    let dir = tempdir("png");
    let dir = dir.path();
    let small = dir.join("small.png");
    write_png(&small, (32, 32), png::ColorType::Rgb, &[255, 0, 51]);
    let large = dir.join("large.png");
    write_png(&large, (64, 48), png::ColorType::Rgba, &[0, 255, 0, 7]);
    let grey = dir.join("grey.png");
    write_png(&grey, (16, 16), png::ColorType::Grayscale, &[102]);
    let batch = load_images(&[&small, &large, &grey], [32, 32, 3]).unwrap();
    assert_eq!(batch.len(), 3 * 3072);
    let near = |got: &[f32], want: [f32; 3]| got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6);
    assert!(near(&batch[..3], [1.0, 0.0, 0.2]), "{:?}", &batch[..3]);
    // Resized from 64x48 (every pixel, corners included), alpha dropped.
    assert!(batch[3072..6144].chunks(3).all(|p| near(p, [0.0, 1.0, 0.0])), "{:?}", &batch[3072..3075]);
    // Grey enlarged from 16x16 and repeated into RGB.
    assert!(batch[6144..].chunks(3).all(|p| near(p, [0.4; 3])), "{:?}", &batch[6144..6147]);
    let as_grey = load_images(&[&small], [32, 32, 1]).unwrap();
    assert!((as_grey[0] - (0.2126 + 0.0722 * 0.2)).abs() < 1e-6, "{}", as_grey[0]);
    let not_png = dir.join("text.png");
    std::fs::write(&not_png, b"not a png").unwrap();
    let err = load_images(&[&not_png], [32, 32, 3]).unwrap_err().to_string();
    assert!(err.contains("text.png") && err.contains("not a readable image"), "{err}");
    let err = load_images(&[dir.join("missing.png")], [32, 32, 3]).unwrap_err().to_string();
    assert!(err.contains("missing.png"), "{err}");
    assert_eq!(top_k(&[0.1, 0.6, 0.3], 2), vec![(1, 0.6), (2, 0.3)]);
}

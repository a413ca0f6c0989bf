//! `palaver`: the terminal client and the load benchmark (see issue 7).

fn main() {
    eprintln!("palaver: the terminal client is not built yet");
    std::process::exit(2);
}

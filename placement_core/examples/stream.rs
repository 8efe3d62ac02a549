//! A stream of FT place-and-reserve calls on a synthetic inventory, timed per call, without Python.
//! For profiling the core (perf, callgrind): `cargo run --release --example stream -- 1000000 20000 [1]`.

use std::time::Instant;

use placement_core::{Config, Engine, HostSpec, Request, StorageSpec, Strategy};

const GIB: u64 = 1 << 30;

/// A tiny deterministic generator (xorshift), so runs are repeatable without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn uuid(kind: u64, n: u64) -> String {
    format!("{kind:08x}{n:024x}")
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let hosts = args.first().copied().unwrap_or(100_000);
    let requests = args.get(1).copied().unwrap_or(20_000);
    // A third argument of 1 cycles through every allocator strategy (every index then stays in step).
    let all_strategies = args.get(2) == Some(&1);
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut e = Engine::new(Config::default());
    let zones = 4;
    let cluster_size = 100;
    let l2 = uuid(7, 0);
    let l3 = uuid(8, 0);
    e.set_l3(&l3, &l2);
    let started = Instant::now();
    for n in 0..hosts {
        let cluster = n / cluster_size;
        let zone = cluster % zones;
        let cpu = [32, 64, 96, 128][rng.below(4) as usize];
        let mem = [256, 512, 768, 1024][rng.below(4) as usize] * GIB;
        let used = 30 + rng.below(61); // percent
        let mut h = HostSpec::new(&uuid(1, n), &uuid(2, zone), &uuid(3, cluster), cpu, mem);
        h.cpu_used = (cpu as u64 * 10 * used / 100) as u32;
        h.memory_used = mem / 100 * used;
        h.vm_count = (used / 5) as u32;
        h.failure_domain = format!("rack-{}", n / 20);
        e.upsert_host(&h).unwrap();
        if n % cluster_size == 0 {
            e.attach_l2(&uuid(3, cluster), &l2);
            let clusters = [uuid(3, cluster)];
            let refs: Vec<&str> = clusters.iter().map(String::as_str).collect();
            e.upsert_storage(&StorageSpec::shared(&uuid(4, cluster), &uuid(2, zone), &refs, 1 << 50)).unwrap();
        }
    }
    eprintln!("built {hosts} hosts in {:.2?}", started.elapsed());
    let mut lat = Vec::with_capacity(requests as usize);
    let mut failed = 0;
    let t0 = Instant::now();
    for i in 0..requests {
        let mut r = Request::new([1, 2, 4, 8][rng.below(4) as usize], [2, 4, 8, 16][rng.below(4) as usize] * GIB);
        r.l3_uuids = vec![l3.clone()];
        r.root_bytes = 20 * GIB;
        if all_strategies {
            r.strategy = Strategy::ALL[i as usize % 5];
            r.max_instance_per_host = 1000;
        }
        let t = Instant::now();
        if e.place_and_reserve(&i.to_string(), &r).is_err() {
            failed += 1;
        }
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let total = t0.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    println!(
        "hosts={hosts} requests={requests} failed={failed} p50={:.2}us p99={:.2}us max={:.2}us per_s={:.0}",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        requests as f64 / total.as_secs_f64()
    );
}

use telemetry::Context;

fn require_send<T: Send>(_: T) {}

fn main() {
    // A guard held across `.await` would leak the context to whatever the thread
    // runs next; it is not `Send`, so a spawnable future cannot hold one.
    require_send(async {
        let _guard = Context::new().with_uid("u").enter();
        std::future::ready(()).await;
    });
}

/** The same JSON the bare baseline answers. */
export function hello() {
  return { message: 'hello' };
}

/** `count` small chunks, as fast as the client takes them. */
export async function* chunks({ count = 10_000 }: { count?: number }) {
  for (let i = 0; i < count; i += 1) yield `chunk ${i}`;
}

export function hello() {
  return { message: 'hello' };
}

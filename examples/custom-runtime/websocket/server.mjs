// A WebSocket echo as a custom runtime: what it is sent it sends back, text as text and binary as
// binary. Python's standard library has no WebSocket server, so this one is Node with the `ws`
// package (`npm install ws` next to it when copied out of this repository).
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 8193);
const server = createServer((req, res) => {
  // The readycheck and healthcheck.
  res.writeHead(req.url === '/ready' || req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path: req.url }));
});
const sockets = new WebSocketServer({
  server,
  handleProtocols: (offered) => (offered.has('echo.v1') ? 'echo.v1' : false),
});
sockets.on('connection', (socket, req) => {
  socket.send(JSON.stringify({ hello: req.url }));
  socket.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'close') socket.close(4000, 'asked to close');
    else socket.send(data, { binary: isBinary });
  });
});
server.listen(port, () => console.log(`listening on ${port}`));

#!/usr/bin/env node
// Starts kinesalite on 127.0.0.1 only. Its command line listens on every interface (it calls
// listen(port) without a host); its library takes a host, so this calls listen(port, '127.0.0.1').
//
//   node crates/localenv/kinesalite.js MODULE_DIR --port 4567 [--shardLimit 1000]
//        [--createStreamMs 0] [--deleteStreamMs 0] [--updateStreamMs 0] [--path DIR]
//
// MODULE_DIR is the installed kinesalite package (.tools/node/node_modules/kinesalite); the
// options are the command line's, with the same meaning.
'use strict'

const [moduleDir, ...args] = process.argv.slice(2)
if (!moduleDir) {
  console.error('usage: kinesalite.js MODULE_DIR --port PORT [kinesalite options]')
  process.exit(2)
}
const numeric = ['port', 'shardLimit', 'createStreamMs', 'deleteStreamMs', 'updateStreamMs']
const options = {}
for (let i = 0; i < args.length; i += 2) {
  const name = args[i].replace(/^--/, '')
  const value = args[i + 1]
  if (!args[i].startsWith('--') || value === undefined) {
    console.error(`kinesalite.js: expected --name value, got ${args[i]}`)
    process.exit(2)
  }
  options[name] = numeric.includes(name) ? Number(value) : value
}
if (!Number.isInteger(options.port)) {
  console.error('kinesalite.js: --port is required')
  process.exit(2)
}

const server = require(require('path').resolve(moduleDir))(options)
server.listen(options.port, '127.0.0.1', () => {
  const address = server.address()
  console.log('Listening at http://%s:%s', address.address, address.port)
})

// serialport-gsm against a modem: send a short, a long (concatenated) and a UCS2
// message, then print each message received; lines for the test to read.
const serialportgsm = require('serialport-gsm');
const modem = serialportgsm.Modem();
const dev = process.argv[2];
const opts = {
  baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, rtscts: false,
  xon: false, xoff: false, xany: false, autoDeleteOnReceive: true, enableConcatenation: true,
  incomingCallIndication: false, incomingSMSIndication: true, pin: '', customInitCommand: '',
  cnmiCommand: 'AT+CNMI=2,1,0,2,1', logger: { debug: (m) => console.log('LOG ' + m) },
};
modem.on('onNewMessage', (m) => console.log('RECEIVED ' + JSON.stringify(m)));
modem.on('open', () => {
  modem.initializeModem(async (r, e) => {
    if (e) { console.log('ERROR init ' + JSON.stringify(e)); process.exit(1); }
    console.log('INIT ' + r.status);
    modem.setModemMode(async (r2) => {
      console.log('MODE ' + r2.status);
      const msgs = JSON.parse(process.argv[3]);
      for (const [to, text] of msgs) {
        const res = await modem.sendSMS(to, text, false);
        console.log('SENT ' + res.status + ' ' + to);
      }
      console.log('READY');
    }, false, 30000, 'PDU');
  });
});
modem.open(dev, opts).catch((e) => { console.log('ERROR open ' + e); process.exit(1); });
setTimeout(() => { console.log('TIMEOUT'); process.exit(0); }, Number(process.argv[4] || 20000));

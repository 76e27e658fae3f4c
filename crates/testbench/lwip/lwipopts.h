/* lwIP 2.1.3 options for the test bench's PPP client: one thread, raw API, PPPoS with
 * PAP/CHAP, DNS, pppd-style packet logs. VJ_SUPPORT stays at lwIP's default (1), as
 * ESP-IDF's lwIP under esp_modem has it, so its IPCP request carries VJ compression. */
#ifndef LWIPOPTS_H
#define LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_IPV6 0
#define LWIP_DNS 1
#define DNS_MAX_SERVERS 2
#define LWIP_RAW 1
#define LWIP_ICMP 1
#define MEM_ALIGNMENT 8
#define MEM_SIZE (512 * 1024)
#define MEMP_NUM_PBUF 256
#define MEMP_NUM_TCP_SEG 512
#define MEMP_NUM_TCP_PCB 16
#define MEMP_NUM_UDP_PCB 8
#define PBUF_POOL_SIZE 256
#define TCP_MSS 1460
#define TCP_WND (32 * TCP_MSS)
#define TCP_SND_BUF (16 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 2
#define PPP_SUPPORT 1
#define PPPOS_SUPPORT 1
#define PPP_IPV4_SUPPORT 1
#define PAP_SUPPORT 1
#define CHAP_SUPPORT 1
#define MEMP_NUM_PPP_PCB 2
#define PRINTPKT_SUPPORT 1
#define LWIP_DEBUG 1
#define PPP_DEBUG LWIP_DBG_ON
#define LWIP_HOOK_IP4_INPUT(p, inp) harness_ip4_input(p, inp)
/* lwIP's diagnostics (the PPP packet log) go to stderr; stdout has the harness's lines. */
#define LWIP_PLATFORM_DIAG(x) do { harness_diag x; } while (0)
void harness_diag(const char *fmt, ...);
struct pbuf;
struct netif;
int harness_ip4_input(struct pbuf *p, struct netif *inp);

#endif

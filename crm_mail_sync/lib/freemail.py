"""Free-mail providers: their domain says nothing about the sender's company."""

FREEMAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com outlook.com hotmail.com hotmail.fr hotmail.co.uk live.com
    live.fr msn.com yahoo.com yahoo.fr yahoo.co.uk yahoo.de ymail.com aol.com icloud.com
    me.com mac.com gmx.com gmx.de gmx.net gmx.fr web.de t-online.de freenet.de orange.fr
    wanadoo.fr free.fr laposte.net sfr.fr mail.com email.com zoho.com zohomail.com
    protonmail.com proton.me pm.me tutanota.com fastmail.com fastmail.fm hey.com
    yandex.com yandex.ru mail.ru seznam.cz email.cz centrum.cz atlas.cz post.cz
    wp.pl onet.pl o2.pl interia.pl gazeta.pl op.pl libero.it virgilio.it tiscali.it
    qq.com 163.com 126.com naver.com
    """.split()
)


def is_freemail(address_or_domain):
    """Whether an address (or a bare domain) belongs to a free-mail provider."""
    domain = (address_or_domain or "").rpartition("@")[2].strip().lower()
    return domain in FREEMAIL_DOMAINS
